"""The deterministic simulation: the event loop and the faults it applies, the
simulated disk and the clients.
"""
