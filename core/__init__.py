"""upsync's pure kernel: value types, errors, the canonical schema, cursor maths and the clock.

Every layer imports it; it imports nothing of the project.
"""
