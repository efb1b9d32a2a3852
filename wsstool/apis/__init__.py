from .checkpoint import load_model_weights

__all__ = ['load_model_weights']
