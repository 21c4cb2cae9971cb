"""Results: the schema, the one row builder, the rules rows obey, the store (Parquet files appended atomically
under a lock), migrations of older files, the store check and repair, and reports. Imports no torch.
"""
