"""Optical-flow networks (SpyNet, PWC-Net, RIFE's IFBlock/IFNet)."""
