"""Print time, resin volume and cost of a resin print.

Time per layer = exposure + lift up and back down at the profile's speeds + the wait
before exposure. The first ``bottom_layers`` use the bottom exposure and bottom lift;
with ``fade_layers`` the exposure then steps linearly from the bottom value to the
normal one, as PrusaSlicer's numFade does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from printprep.profiles import MaterialProfile, ResinPrinterProfile


@dataclass(frozen=True)
class Exposure:
    """Exposure times (s) used for a print: normal and bottom layers."""

    exposure_s: float
    bottom_exposure_s: float


def exposure_for(profile: ResinPrinterProfile, material: MaterialProfile) -> Exposure:
    """The material's exposures when it gives them, else the printer profile's."""
    return Exposure(
        exposure_s=material.exposure_s if material.exposure_s is not None else profile.exposure_s,
        bottom_exposure_s=(
            material.bottom_exposure_s
            if material.bottom_exposure_s is not None
            else profile.bottom_exposure_s
        ),
    )


def layer_exposures_s(
    profile: ResinPrinterProfile, exposure: Exposure, layer_count: int
) -> np.ndarray:
    """(layer_count,) float64 s: each layer's exposure time."""
    t = np.full(layer_count, exposure.exposure_s)
    nb = min(profile.bottom_layers, layer_count)
    t[:nb] = exposure.bottom_exposure_s
    nf = min(profile.fade_layers, max(layer_count - nb, 0))
    if nf:
        frac = np.arange(1, nf + 1) / (nf + 1)
        t[nb : nb + nf] = exposure.bottom_exposure_s + frac * (
            exposure.exposure_s - exposure.bottom_exposure_s
        )
    return t


def print_time_s(profile: ResinPrinterProfile, exposure: Exposure, layer_count: int) -> float:
    """Total print time in s: exposures + lift/retract motion + waits."""
    if layer_count <= 0:
        return 0.0
    exp = layer_exposures_s(profile, exposure, layer_count)
    nb = min(profile.bottom_layers, layer_count)
    lift = profile.lift_height_mm / profile.lift_speed_mm_s
    retract = profile.lift_height_mm / profile.retract_speed_mm_s
    blift = profile.bottom_lift_height_mm / profile.bottom_lift_speed_mm_s
    bretract = profile.bottom_lift_height_mm / profile.retract_speed_mm_s
    motion = nb * (blift + bretract) + (layer_count - nb) * (lift + retract)
    return float(exp.sum() + motion + layer_count * profile.wait_before_exposure_s)


def resin_ml(lit_px: float, pitch_mm: tuple[float, float], layer_height_mm: float) -> float:
    """Resin volume in ml from the summed layer coverage (in full pixels)."""
    return float(lit_px * pitch_mm[0] * pitch_mm[1] * layer_height_mm / 1000.0)
