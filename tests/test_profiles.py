"""Printer and material profiles: the shipped files load, bad files are refused by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from printprep.errors import ProfileError
from printprep.profiles import (
    DEFAULT_PROFILE,
    FilamentPrinterProfile,
    ResinPrinterProfile,
    list_materials,
    list_profiles,
    load_material,
    load_profile,
    profiles_dir,
)

SHIPPED = {
    "prusa-sl1s",
    "phrozen-sonic-4k",
    "phrozen-sonic-mini-8k",
    "elegoo-saturn-4-ultra-16k",
    "elegoo-mars-4-dlp",
    "prusa-mk4-castable",
}


def test_shipped_profiles_load_and_their_materials_exist() -> None:
    profiles = {p.name: p for p in list_profiles()}
    assert SHIPPED <= set(profiles)
    assert DEFAULT_PROFILE in profiles
    materials = {m.name for m in list_materials()}
    for p in profiles.values():
        assert p.default_material in materials, p.name
        assert load_material(p.default_material).kind == p.kind


def test_pitch_follows_display_size_per_axis() -> None:
    saturn = load_profile("elegoo-saturn-4-ultra-16k")
    assert isinstance(saturn, ResinPrinterProfile)
    assert saturn.pitch_mm == pytest.approx((0.014, 0.019), abs=5e-5)
    sonic = load_profile("phrozen-sonic-4k")
    assert sonic.pitch_mm == pytest.approx((0.035, 0.035))
    sl1s = load_profile("prusa-sl1s")
    assert sl1s.orientation == "portrait" and sl1s.mirror_x and not sl1s.mirror_y
    assert sl1s.image_px == (1620, 2560)
    mk4 = load_profile("prusa-mk4-castable")
    assert isinstance(mk4, FilamentPrinterProfile) and mk4.nozzle_mm == 0.4


def test_profile_by_path_and_by_env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = profiles_dir() / "printers" / "phrozen-sonic-4k.toml"
    copy = tmp_path / "my-printer.toml"
    copy.write_text(src.read_text())
    p = load_profile(str(copy))
    assert p.name == "my-printer" and p.model == "Phrozen Sonic 4K"
    (tmp_path / "printers").mkdir()
    (tmp_path / "printers" / "other.toml").write_text(src.read_text())
    monkeypatch.setenv("PRINTPREP_PROFILES_DIR", str(tmp_path))
    assert [q.name for q in list_profiles()] == ["other"]


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = (profiles_dir() / "printers" / "phrozen-sonic-4k.toml").read_text()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new))
    return path


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("mirror_y = false", "mirror_y = false\nmirorr_x = true", "mirorr_x"),
        ("display_px = [3840, 2160]", "display_px = [3840]", "display_px"),
        ("exposure_s = 2.5", "exposure_s = -1", "exposure_s"),
        ('technology = "msla"', 'technology = "fdm"', "technology"),
        ("layer_height_mm = 0.05", "layer_height_mm = 0.2", "layer_height_mm"),
        ('orientation = "landscape"\n', "", "orientation"),
        ("mirror_x = false", 'mirror_x = "no"', "mirror_x"),
    ],
)
def test_bad_profiles_name_file_and_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    assert str(path) in str(exc.value)
    assert repr(key) in str(exc.value)


def test_unknown_name_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="unknown printer profile 'nope'.*phrozen-sonic-4k"):
        load_profile("nope")
    bad = tmp_path / "x.toml"
    bad.write_text("kind = resin\n")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(bad)
    with pytest.raises(ProfileError, match="not found"):
        load_profile(tmp_path / "missing.toml")


def test_material_cost_and_validation(tmp_path: Path) -> None:
    resin = load_material("bluecast-x10")
    assert resin.cost(10.0) == pytest.approx(10.0 * resin.price_per_l / 1000)
    fil = load_material("polycast")
    assert fil.cost(10.0) == pytest.approx(10.0 * fil.density_g_cm3 * fil.price_per_kg / 1000)
    bad = tmp_path / "m.toml"
    bad.write_text('kind = "resin"\ndisplay_name = "x"\ndensity_g_cm3 = 1.1\nprice_per_kg = 3\n')
    with pytest.raises(ProfileError, match="'price_per_kg'"):
        load_material(bad)


def test_the_package_keeps_one_import_path_and_small_modules() -> None:
    """``from printprep.profiles import ...`` is the one import path; the modules behind it
    (printer, material, loading) stay small enough to read in one sitting."""
    import printprep.profiles as package

    for name in package.__all__:
        assert getattr(package, name) is not None, name
    assert load_profile(DEFAULT_PROFILE).kind == "resin"
    folder = Path(package.__file__).parent
    modules = sorted(p.name for p in folder.glob("*.py"))
    assert modules == ["__init__.py", "loading.py", "material.py", "printer.py"]
    for p in folder.glob("*.py"):
        assert len(p.read_text().splitlines()) <= 400, p.name
    # the profiles folder is found from the package as it was from the module
    assert (profiles_dir() / "printers" / f"{DEFAULT_PROFILE}.toml").is_file()
