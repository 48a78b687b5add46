"""The dataset registry: one entry per dataset, everything else reads from here.

Adding a dataset is one ``DatasetSpec`` in ``DATASETS``. A spec says which staged file names are
accepted (the layout of ``shared/data/README.md``), what their content must look like (so a file
is verified by content, not by the bytes of one particular copy), where the official originals
are, and how big a quick-mode subset is.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """One official file to download, with the digest published for it."""

    url: str
    filename: str
    sha256: str | None = None
    md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    kind: str  # "images" or "text": selects the content checks and the loader
    files: tuple[str, ...]  # accepted staged file names, preferred first
    counts: dict[str, tuple[int, int]]  # variant name -> (train, test) sample counts
    num_classes: int
    image_shape: tuple[int, ...] = ()
    label_shape: tuple[int, ...] = ()  # Keras layout of one label: () or (1,)
    class_names: tuple[str, ...] = ()
    quick: tuple[int, int] = (2000, 500)  # (train, test) samples in quick mode
    sources: tuple[Source, ...] = ()
    keras_cache: tuple[str, ...] = ()  # file names in Keras' cache we can read without pickle
    citation: str = ""
    notes: str = ""
    extra_arrays: dict[str, str] = field(default_factory=dict)

    @property
    def staged_name(self) -> str:
        """The file name ``workbench data fetch`` writes."""
        return self.files[0]


KERAS_DATASETS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MNIST_DIGITS = tuple(str(i) for i in range(10))
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    DATASETS[spec.name] = spec
    return spec


register(DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits",
    kind="images",
    files=("mnist.npz",),
    counts={"full": (60000, 10000)},
    num_classes=10,
    image_shape=(28, 28),
    class_names=MNIST_DIGITS,
    quick=(5000, 1000),
    sources=(Source(
        KERAS_DATASETS + "mnist.npz", "mnist.npz",
        sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    ),),
    keras_cache=("mnist.npz",),
    citation="LeCun, Cortes and Burges, The MNIST database of handwritten digits.",
))

register(DatasetSpec(
    name="fashion_mnist",
    title="Fashion-MNIST (Zalando)",
    kind="images",
    files=("fashion_mnist.npz",),
    counts={"full": (60000, 10000)},
    num_classes=10,
    image_shape=(28, 28),
    class_names=FASHION_CLASSES,
    quick=(5000, 1000),
    sources=tuple(
        Source(KERAS_DATASETS + name, name, md5=md5)
        for name, md5 in (
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        )
    ),
    keras_cache=(
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
    ),
    citation="Xiao, Rasul and Vollgraf (2017), Fashion-MNIST, arXiv:1708.07747.",
))

register(DatasetSpec(
    name="cifar10",
    title="CIFAR-10",
    kind="images",
    files=("cifar10.npz", "cifar10_subset.npz"),
    counts={"full": (50000, 10000), "subset": (10000, 2000)},
    num_classes=10,
    image_shape=(32, 32, 3),
    label_shape=(1,),
    class_names=CIFAR10_CLASSES,
    quick=(2000, 500),
    # The binary version: plain bytes, no pickle (the "python version" is pickled).
    sources=(Source(
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "cifar-10-binary.tar.gz",
        md5="c32a1d4ab5d03f1284b67883e8d87530",
    ),),
    citation="Krizhevsky (2009), Learning Multiple Layers of Features from Tiny Images.",
    notes="shared/data holds a balanced 10k/2k subset decoded from JPEG dumps.",
))

register(DatasetSpec(
    name="cifar100",
    title="CIFAR-100 (fine labels)",
    kind="images",
    files=("cifar100.npz",),
    counts={"full": (50000, 10000)},
    num_classes=100,
    image_shape=(32, 32, 3),
    label_shape=(1,),
    quick=(2000, 500),
    sources=(Source(
        "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", "cifar-100-binary.tar.gz",
        md5="03b5dce01913d631647c71ecec9e9cb8",
    ),),
    citation="Krizhevsky (2009), Learning Multiple Layers of Features from Tiny Images.",
))

register(DatasetSpec(
    name="imdb",
    title="IMDB movie reviews (raw text, Large Movie Review Dataset v1.0)",
    kind="text",
    files=("imdb_reviews.npz",),
    counts={"full": (25000, 25000)},
    num_classes=2,
    class_names=("negative", "positive"),
    quick=(2000, 1000),
    sources=(Source(
        "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz", "aclImdb_v1.tar.gz",
        md5="7c2ac02c03563afcf9b574c7e56c153a",
    ),),
    citation="Maas et al. (2011), Learning Word Vectors for Sentiment Analysis, ACL.",
))


class UnknownDatasetError(KeyError):
    def __str__(self) -> str:  # KeyError would print the repr of its argument
        return self.args[0]


def get(name: str) -> DatasetSpec:
    """The spec for ``name``, or an error listing the names that exist."""
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise UnknownDatasetError(
            f"unknown dataset {name!r}; the registry has: {known}. "
            "To add one, register a DatasetSpec in workbench/data/registry.py."
        ) from None
