"""The pure core: decisions as functions of data (see README.md beside this file)."""
