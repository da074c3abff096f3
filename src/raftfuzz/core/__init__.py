"""The simulation core behind one small API: the C binding, its pure-Python twin
(bit-identical), the constants both share, and the cffi build.
"""
