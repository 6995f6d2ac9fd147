"""I/O behind small typed interfaces (see :mod:`connectors.base`); :mod:`connectors.factory` builds them."""
