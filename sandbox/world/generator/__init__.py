"""The world generator: one module per family of stories, combined in ``build``."""
