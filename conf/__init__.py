"""Hydra config tree of adaptbench, installed as package data (read through importlib.resources)."""
