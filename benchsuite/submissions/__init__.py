"""Submissions: the bundle a method author submits (`benchsuite submit`: the standard suite for one method, its
rows, artifacts and manifest) and its import into a store after every check (`benchsuite store import`).
"""
