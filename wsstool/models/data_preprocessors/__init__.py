from .wsss_data_preprocessor import (WSSSDataPreprocessor,
                                     build_data_preprocessor)

__all__ = ['WSSSDataPreprocessor', 'build_data_preprocessor']
