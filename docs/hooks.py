"""mkdocs hook: files of the repository that join the site without a copy under docs/.

* the figures README.md shows (results/readme/*.png) become figures/*.png, so the pages link to
  the same files as README.md;
* CHANGELOG.md becomes changelog.md (a placeholder page while the repository has none).
"""

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
README_FIGURES = ROOT / "results" / "readme"
CHANGELOG = ROOT / "CHANGELOG.md"
NO_CHANGELOG = "# Changelog\n\nThe repository has no CHANGELOG.md yet.\n"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add every PNG of results/readme/ as ``figures/<name>`` and CHANGELOG.md as changelog.md.

    Args:
        files: the site's files, as mkdocs collected them from docs/pages.
        config: the site's configuration.

    Returns:
        The same files, with the figures and the changelog added.
    """
    for png in sorted(README_FIGURES.glob("*.png")):
        files.append(File.generated(config, f"figures/{png.name}", abs_src_path=str(png)))
    changelog = CHANGELOG.read_text(encoding="utf-8") if CHANGELOG.exists() else NO_CHANGELOG
    files.append(File.generated(config, "changelog.md", content=changelog))
    return files
