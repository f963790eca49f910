"""Datasets: the prepared-folder layout, readers and converters."""
from pte.data.atomic import DataError
from pte.data.dataset import Dataset, load_dataset

__all__ = ["DataError", "Dataset", "load_dataset"]
