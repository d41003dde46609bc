"""The virtual internet's wiring: network namespaces, addresses and neighbours, WireGuard."""
