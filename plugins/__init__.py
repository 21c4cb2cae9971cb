"""benchsuite's built-in plugins, registered through the `benchsuite` entry-point group like any third party."""
