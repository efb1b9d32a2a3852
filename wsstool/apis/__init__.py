from .checkpoint import (check_checkpoint_shapes, load_model_weights,
                         read_state_dict)

__all__ = ['check_checkpoint_shapes', 'load_model_weights', 'read_state_dict']
