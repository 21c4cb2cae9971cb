"""A plugin whose import raises GeneratorExit, a BaseException meant for generators."""

raise GeneratorExit
