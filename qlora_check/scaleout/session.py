"""Joining a Ray cluster for one run, or starting a local head for it (``--ray auto`` on a laptop).

``auto`` joins the cluster ``RAY_ADDRESS`` names, else the one a local head runs (Ray's own lookup), else
starts a head in this process with this host's doctor verdicts as its resources and stops it at the end.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from qlora_check.errors import QloraCheckError
from qlora_check.scaleout.executor import RayExecutor
from qlora_check.scaleout.node_resources import NodeOffer

AUTO = "auto"
INSTALL_HINT = "pip install 'qlora-check[ray]'"
OBJECT_STORE_BYTES = 128 * 2**20  # cells send back a result and a log: Ray's default (30% of RAM) is waste


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise QloraCheckError("--ray needs Ray, which is not installed", tip=INSTALL_HINT) from None
    return ray


@contextlib.contextmanager
def ray_session(address: str, local_offer: Callable[[], NodeOffer], cpus: int | None = None) -> Iterator[RayExecutor]:
    """A connected executor; ``local_offer`` is asked only when a local head must be started."""
    ray = import_ray()
    common: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    if address != AUTO:
        _init(ray, address, common)
    elif os.environ.get("RAY_ADDRESS"):
        _init(ray, os.environ["RAY_ADDRESS"], common)
    else:
        try:
            ray.init(address="auto", **common)
        except ConnectionError:
            offer = local_offer()
            ray.init(
                address="local",
                num_cpus=cpus,
                resources=offer.resources,
                labels=offer.labels,
                include_dashboard=False,
                object_store_memory=OBJECT_STORE_BYTES,
                **common,
            )
    try:
        yield RayExecutor()
    finally:
        ray.shutdown()


def _init(ray: Any, address: str, common: dict[str, Any]) -> None:
    try:
        ray.init(address=address, **common)
    except ConnectionError as exc:
        raise QloraCheckError(
            f"no Ray cluster answers at {address}: {exc}",
            tip="start one with `qlora-check worker --head`, or use --ray auto",
        ) from None
