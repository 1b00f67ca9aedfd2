"""Model zoo: registry access, weight resolution and loading (``stvsr.load``)."""
