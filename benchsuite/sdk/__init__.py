"""The plugin contract: everything a method, backend or task plugin imports (interfaces, params, hook
specifications, metrics, training and reference-model helpers, tracks). Imports nothing from the runtime.
"""
