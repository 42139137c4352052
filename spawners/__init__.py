"""Spawners for smchub: ProjectSpawner and its compute-node backends."""

from .spawner import ProjectSpawner

__all__ = ["ProjectSpawner"]
