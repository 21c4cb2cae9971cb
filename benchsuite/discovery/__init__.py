"""Finding plugins: loading entry points and ``--plugins-dir`` files through pluggy (allow/block lists, broken
plugins isolated and named), the strict registries they fill, task cards, and the new-plugin scaffold.
"""
