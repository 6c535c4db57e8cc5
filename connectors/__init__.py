"""Connectors: one module per management plane, behind one small interface.

Intune, Jamf Pro, Configuration Manager, Landscape and Ansible. The planes arrive with the
publishing work; this package is the place they live.
"""
