"""tidehash inside python-threatexchange (pytx) and Hasher-Matcher-Actioner (HMA).

``threatexchange config extensions add tidehash.pytx`` loads TX_MANIFEST: two signal
types, ``tidehash_pdq`` (photos; pytx's ``pdq`` hashes, matched through an exact
tidehash Index instead of faiss) and ``tidehash_vpdq`` (videos; pytx's vPDQ JSON,
computed by tidehash, so pip ``vpdq`` is not needed). Needs the ``pytx`` extra
(``threatexchange>=1.2.17``); the engine never imports this package."""

from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest

from .pdq import TidehashPDQIndex, TidehashPdqSignal
from .vpdq import TidehashVPDQIndex, TidehashVpdqSignal, VPDQSimilarityInfo

TX_MANIFEST = ThreatExchangeExtensionManifest(
    signal_types=(TidehashPdqSignal, TidehashVpdqSignal),
)

__all__ = ["TX_MANIFEST", "TidehashPDQIndex", "TidehashPdqSignal", "TidehashVPDQIndex",
           "TidehashVpdqSignal", "VPDQSimilarityInfo"]
