"""I/O with the outside systems: the CRMs and the product usage API, each behind the ports of ``connectors.base``."""
