"""The IVR's call flow as data: the shipped flow files, versions supervisors edit, the live copy."""
