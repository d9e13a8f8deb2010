"""Border explanations: the attribution methods, layers, shared passes and the engine."""
