"""CAM (seed) methods: classifiers trained with method-specific losses."""
from .adversarial_erasing import AdversarialErasingClassifier
from .aeft import AEFT
from .ktse import KTSE
from .ktse_plus import KTSEPlus
from .seam import SEAM
from .ssc import SSC

__all__ = ['AEFT', 'AdversarialErasingClassifier', 'KTSE', 'KTSEPlus', 'SEAM', 'SSC']
