"""Where every built-in dataset's raw files come from: public URL, byte size and sha256.

Each :class:`~plexus.platform.data.download.RawSource` pins its files to a
commit of a public repository (the bytes a digest can vouch for), names the
upstream home and licence, and carries the terms a user accepts by fetching
where the publisher asks for that. The loaders call :func:`ensure_raw`, which
fetches what is missing into ``$PLEXUS_DATA/raw/<folder>/`` on first use.
"""

from __future__ import annotations

from pathlib import Path

from plexus.platform.data.download import RawSource, RemoteFile, fetch, missing_files
from plexus.platform.errors import CatalogError, DataError

__all__ = ["SOURCES", "ensure_raw", "local_status", "source_of"]


def _gh(repo: str, commit: str, folder: str = "") -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{folder}"


def _src(folder: str, base: str, files: list[tuple[str, int, str]], *, homepage: str, license: str,
         terms: str = "") -> RawSource:
    return RawSource(folder, tuple(RemoteFile(n, base + n, size, sha) for n, size, sha in files),
                     homepage=homepage, license=license, terms=terms)


_PLANETOID = _gh("kimiyoung/planetoid", "af6abf468a772cc055bec88c52e4d6f51b7c37e3", "data/")
_HET = _gh("yandex-research/heterophilous-graphs", "a431395582e929d88271309716bea4fe24ce6318", "data/")
_HET_HOME = "https://github.com/yandex-research/heterophilous-graphs"
_TU = _gh("SuperVillian/GBGC", "abdb9060059fb781d0f07d39b4f569390a404eaa", "dataset/")
_TU_HOME = "https://chrsmrrs.github.io/datasets/docs/datasets/"
_TU_TERMS = "cite TUDataset (Morris et al. 2020) and the dataset's original paper (see README.txt)"
_BITCOIN = _gh("Starkiller13/LFN_project", "c1db6a95de8ed97431c73ad8eab9221fdb5576e6", "data/")
_SNAP_TERMS = "SNAP asks users to cite the dataset's paper (see the SNAP page)"
_NO_REDISTRIBUTION = ("research use only; acknowledge the data set in publications; no redistribution without "
                      "separate permission; no commercial use without permission")

SOURCES: dict[str, RawSource] = {
    "criteo-10k": _src("criteo-10k", _gh("shichence/AutoInt", "f26f9f94d05a708299746a390b995a291243c417"), [
        ("train_examples.txt", 2422799, "f665bb8823fd742ea1b8602d70918f235ccc08eba3224f1621c11022721c21a3")],
        homepage="https://github.com/shichence/AutoInt", license="MIT (repository); Criteo data: research use",
        terms="Criteo Labs data, released for research use; cite Criteo Labs"),
    "census-income": _src("census-income-kdd", _gh("drawbridge/keras-mmoe", "5532ffb3ed6bccf4a0eae9d189fa0d661357425f",
                                                   "data/"), [
        ("census-income.test.gz", 3261416, "5ac4cacd3ca9f1ecb10de1a0a41e4ac68fdc419e3fec190f5c0c6cc03b2ea659")],
        homepage="https://archive.ics.uci.edu/dataset/117/census+income+kdd", license="CC BY 4.0 (UCI)"),
    "frappe": _src("frappe", _gh("hexiangnan/neural_factorization_machine", "ca2a5d11b929816aa44c6e470e795af144608507",
                                 "data/frappe/"), [
        ("frappe.validation.libfm", 4163044, "fdf4be563a7dd9b15f7a6e8b32671e90e6e7a2a2bd3af4e10bf13c5ad7e76e9e"),
        ("frappe.test.libfm", 2081389, "a2ebaef3a9af8e55f8bb0d08bc4923965e42e43760ebd7635ac2f8c5db99e097")],
        homepage="https://github.com/hexiangnan/neural_factorization_machine", license="Frappe terms (README.txt)",
        terms="Frappe: " + _NO_REDISTRIBUTION + "; cite Baltrunas et al. 2015"),
    "movielens-100k": _src("movielens-100k", _gh("pipilove/Datasets", "ad6211ee8c1bbc93d8d7d91dfcba2dea296e42e5",
                                                 "ml-100k/"), [
        ("u.data", 1979173, "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
        ("u.user", 22628, "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
        ("u.item", 236344, "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
        ("u.genre", 202, "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb")],
        homepage="https://grouplens.org/datasets/movielens/100k/", license="GroupLens MovieLens terms",
        terms="MovieLens (GroupLens): " + _NO_REDISTRIBUTION + "; cite Harper & Konstan 2015"),
    "amazon-beauty": _src("amazon-beauty-seq", _gh("RUCAIBox/CIKM2020-S3Rec", "e6c774da92dba847b00ac89e8bfc5c55cc44d378",
                                                   "data/"), [
        ("Beauty.txt", 1090094, "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8"),
        ("Beauty_item2attributes.json", 305674, "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4")],
        homepage="https://github.com/RUCAIBox/CIKM2020-S3Rec", license="no licence stated; Amazon review data",
        terms="Amazon review data (McAuley et al.): research use; cite McAuley et al. 2015 and He & McAuley 2016"),
    "cora": _src("cora", _PLANETOID, [
        ("ind.cora.x", 22119, "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab"),
        ("ind.cora.y", 4054, "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1"),
        ("ind.cora.tx", 148025, "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a"),
        ("ind.cora.ty", 28135, "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad"),
        ("ind.cora.allx", 257305, "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543"),
        ("ind.cora.ally", 47959, "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71"),
        ("ind.cora.graph", 59847, "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d"),
        ("ind.cora.test.index", 5000, "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875")],
        homepage="https://github.com/kimiyoung/planetoid", license="MIT"),
    "citeseer": _src("citeseer", _PLANETOID, [
        ("ind.citeseer.x", 31087, "d20de19150741e555de0ed037195630fc194114ebc7fd72ced62810148aa22f6"),
        ("ind.citeseer.y", 3014, "8ba87e515d8e3ee3cf52f6d2c5b86aa73f11ecad825a808455209ec26cd54924"),
        ("ind.citeseer.tx", 260321, "539a8906a2da97628d212f2fdd668c109a8b3f0d36574b59e5d3fd5b5303da21"),
        ("ind.citeseer.ty", 24135, "55e5bd1ba1e733a04598753ad1a8d57957f4b8f89e74519f41f4f4938767e4ce"),
        ("ind.citeseer.allx", 595021, "2ac30345d95c9ec933a817ee0bdd6a5f077f8c184a20e696910192d534414668"),
        ("ind.citeseer.ally", 55623, "f704b2d986dde6c2669934de1f3ae5696a6cf9455c0f6b2646a2d135ea0a1c95"),
        ("ind.citeseer.graph", 61987, "d79a4ef9d3e7169aee8946145f6b7306e35bc79bffad26346cfb94e10e9912a7"),
        ("ind.citeseer.test.index", 5000, "2af990671580b6b2df5d158d1038f8292e30c9cd821b5453f399659b25b723d4")],
        homepage="https://github.com/kimiyoung/planetoid", license="MIT"),
    "pubmed": _src("pubmed", _PLANETOID, [
        ("ind.pubmed.x", 23172, "fbe9cb5c47200d1b7769a26e579be3b7130b556831f9d850e77c4c74f2599b33"),
        ("ind.pubmed.y", 854, "e6c807633307a07ed659249006536a147c7999c797f11a2560752990181b41b3"),
        ("ind.pubmed.tx", 405505, "4eb5f5d0f30f26497eb0ac6ac9719d09c67e284f1ed0385c93f3ef27a671da3d"),
        ("ind.pubmed.ty", 12135, "ee2e0d4819d9fbcc403689c3bf2e49face401b605932f093bc58ab6461130fdd"),
        ("ind.pubmed.allx", 7578385, "508e538e2abdccdd54c4d3e9f49d638b4af7107d85845f66ddea5a5152658b7e"),
        ("ind.pubmed.ally", 224739, "0c37bbe3b5014ec365e9d393cf4791925e5ed94fb194305d74f064a8d7b50f0e"),
        ("ind.pubmed.graph", 471808, "5b89f0036ca22909471f1e6558eb42fa06e0c730a577bde5b058b40638f81dc9"),
        ("ind.pubmed.test.index", 6000, "b101d421688bbaecbd82e8a18f1e282378d6830f3a37666f28ebc47f844341b5")],
        homepage="https://github.com/kimiyoung/planetoid", license="MIT"),
    "tu-mutag": _src("tu-mutag", _TU + "MUTAG/", [
        ("MUTAG_A.txt", 76940, "d9656ca7493f3445d737c711710bb36fd432dddd1c0ea32e1d4713c86ebd28e2"),
        ("MUTAG_graph_indicator.txt", 11532, "7d520a4d6c7961c0cdeabe076d8fe27e795b6d373485c9a2b744987e560a2056"),
        ("MUTAG_graph_labels.txt", 439, "a1518ea39ba3426bd42f57396b9c4baffe68e9adc718caeeab0119c6591a5f2c"),
        ("MUTAG_node_labels.txt", 6742, "678f429965490e84dd27713017538c995fc05d1621beac910848b600015ee863"),
        ("MUTAG_edge_labels.txt", 14884, "4669ce755075ff86c3240709345745886400908fa637a49310459b9c267b3e56")],
        homepage=_TU_HOME, license="no licence stated (TU collection)", terms=_TU_TERMS),
    "tu-proteins": _src("tu-proteins", _TU + "PROTEINS/", [
        ("PROTEINS_A.txt", 2022990, "4c4b33e272fc95cac6d27ed6d5d12b9a852c8610e91fff59f8f0dbdd5a20df67"),
        ("PROTEINS_graph_indicator.txt", 169673, "8d4ff1e852a5c28561e9bffb44cf9490bc552b13a3b6156dd12dc7f44e9afc4a"),
        ("PROTEINS_graph_labels.txt", 2226, "c0ef9810c440775252872318d0c8adc385588e14bc4c47a2c34aa96ee3c7cdcd"),
        ("PROTEINS_node_labels.txt", 86942, "f758e8ad3d6e3c026b50833d75f6f90735b94eb3345e4243707f495ca8afea8d"),
        ("PROTEINS_node_attributes.txt", 478190, "54eef829abb37e458a5fbf3a3c581e48e5810e220463c2cd951856b9ceb08f07")],
        homepage=_TU_HOME, license="no licence stated (TU collection)", terms=_TU_TERMS),
    "tu-nci109": _src("tu-nci109", _TU + "NCI109/", [
        ("NCI109_A.txt", 3231486, "9c0ae8c1e631f771663de1e095eb36604f4feeb512e46b90b0409f05f876bab6"),
        ("NCI109_graph_indicator.txt", 583372, "f86bb0249bf985be397f46c493879022cb068b1d4331215151442de1738c9163"),
        ("NCI109_graph_labels.txt", 8254, "8ab9932d5347b935e3aaa7be2f787cc78860fa1af9df836dd3f03cde6939b640"),
        ("NCI109_node_labels.txt", 245264, "d2ceda711b4ea4218909e5527325374d7e50c698b0d8a22567390a5526dbd6bc")],
        homepage=_TU_HOME, license="no licence stated (TU collection)", terms=_TU_TERMS),
    "tolokers": _src("heterophilous-graphs", _HET, [
        ("tolokers.npz", 1329769, "dacf3ac94cec53d03cd2adb5255c08b33dee1656c33ca8164a464bd9450a1667")],
        homepage=_HET_HOME, license="MIT"),
    "chameleon": _src("heterophilous-graphs", _HET, [
        ("chameleon_filtered.npz", 58924, "bf46f07e1fb5249280447e5fe3100f3e82fc4b93ad1e13ffcfdec924b6ac0bb5")],
        homepage=_HET_HOME, license="MIT"),
    "squirrel": _src("heterophilous-graphs", _HET, [
        ("squirrel_filtered.npz", 208215, "f06370ffb3116c5de8b7a600005400b2293c025e0ce2f6916d8201a825505ac7")],
        homepage=_HET_HOME, license="MIT"),
    "actor": _src("heterophilous-graphs", _HET, [
        ("actor.npz", 252956, "c350eef06b2c2a9bf8218be2b57cac6d4003d0922eb597a039e9123f75817816")],
        homepage=_HET_HOME, license="MIT"),
    "bitcoin-otc": _src("bitcoin-otc", _BITCOIN, [
        ("soc-sign-bitcoinotc.csv.gz", 397258, "6424ac981dad3a019f697fc1b9fcd85c19d8d9f039797758e9ffb6fea100c373")],
        homepage="https://snap.stanford.edu/data/soc-sign-bitcoin-otc.html", license="SNAP", terms=_SNAP_TERMS),
    "bitcoin-alpha": _src("bitcoin-alpha", _BITCOIN, [
        ("soc-sign-bitcoinalpha.csv.gz", 149480, "3a178611b9c2f39c9a0dc75936f28557317f1733319b49da4838232b3757cd76")],
        homepage="https://snap.stanford.edu/data/soc-sign-bitcoin-alpha.html", license="SNAP", terms=_SNAP_TERMS),
    "uci-messages": _src("uci-messages", _gh("advaithhl/temporal_graph_clustering",
                                             "2b2eadf2afe8b6bc55f01fbfb27dd0620ce16a27"), [
        ("CollegeMsg.txt", 1150452, "61c48411d84b3907f0ccc7468d47241a5e2a46a7234739e4379274a190293fe6")],
        homepage="https://snap.stanford.edu/data/CollegeMsg.html", license="SNAP", terms=_SNAP_TERMS),
}
SOURCES["movielens-mtl"] = SOURCES["movielens-100k"]


def source_of(name: str) -> RawSource:
    """The raw source of built-in dataset ``name``."""
    try:
        return SOURCES[name]
    except KeyError:
        raise CatalogError(f"dataset '{name}' has no declared raw files (it is bundled, generated or imported)") from None


def ensure_raw(name: str, path: str | None = None, *, files: list[str] | None = None) -> Path:
    """The folder holding dataset ``name``'s raw files, fetched into ``$PLEXUS_DATA/raw`` when missing.

    An explicit ``path`` is used as given (a user's own copy: its files must exist, nothing is
    downloaded into it); ``files`` restricts the check to the files this load reads.
    """
    src = source_of(name)
    wanted = files or [f.name for f in src.files]
    if path is not None:
        root = Path(path)
        if root.is_file():
            root = root.parent
        absent = [f for f in wanted if not (root / f).is_file()]
        if absent:
            raise DataError(f"{', '.join(absent)} not found in the given path (dataset '{name}' expects "
                            f"{', '.join(wanted)}; public home: {src.homepage})", file=str(root))
        return root
    return fetch(src).root  # returns at once when every file is present and verified


def local_status(name: str) -> str:
    """``present``, or ``missing (<n> files, <size>)`` for what a fetch would download."""
    src = SOURCES.get(name)
    if src is None:
        return ""
    missing = missing_files(src)
    if not missing:
        return "present"
    mb = sum(f.size for f in missing) / 2**20
    return f"missing ({len(missing)} file{'s' if len(missing) > 1 else ''}, {mb:.1f} MB)"
