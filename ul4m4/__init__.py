"""UL4M4: unsupervised completion of missing modality embeddings (arXiv 2606.15743).

The library knows nothing of the app: data loading and validation, missingness simulation, the
partial-modality k-means and completion core (torch, CPU or CUDA), baselines and metrics.
"""

from .baselines import IterativeModalityImputer, KNNModalityImputer, MeanImputer, SoftImputeImputer, ZeroImputer
from .cluster import PartialModalityKMeans, partial_kmeans
from .datasets import Dataset, load_dataset, make_synthetic
from .distance import partial_distance
from .impute import FILLED_BY_MEAN, OBSERVED, Provenance, UL4M4Imputer, select_parameters, ul4m4_impute
from .lowrank import UL4M4LowRankImputer
from .imputation_metrics import imputation_error
from .missing import MECHANISMS, MissingReport, simulate_missing
from .scaling import ModalityScaler
from .validation import UL4M4Warning, check_Xs

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "FILLED_BY_MEAN",
    "IterativeModalityImputer",
    "KNNModalityImputer",
    "MECHANISMS",
    "MeanImputer",
    "MissingReport",
    "ModalityScaler",
    "OBSERVED",
    "PartialModalityKMeans",
    "Provenance",
    "UL4M4Imputer",
    "UL4M4LowRankImputer",
    "UL4M4Warning",
    "SoftImputeImputer",
    "ZeroImputer",
    "check_Xs",
    "imputation_error",
    "load_dataset",
    "make_synthetic",
    "partial_distance",
    "partial_kmeans",
    "select_parameters",
    "simulate_missing",
    "ul4m4_impute",
]
