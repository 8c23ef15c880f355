"""Screenshots of the web page for the README, at 1280 x 800 and 390 x 844, in headless Chromium.

    .venv/bin/bentoml serve service:MovieRec --port 3000 &     # after dvc repro
    .venv/bin/python docs/screenshots.py [http://127.0.0.1:3000]
"""

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent / "screenshots"


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:3000"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=["--no-sandbox"])
        for name, size in (("desktop", (1280, 800)), ("phone", (390, 844))):
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.goto(base + "/ui/")
            page.wait_for_selector("#suggestions li .stars")
            page.screenshot(path=str(HERE / f"{name}-first-view.png"))
            controls = page.locator("#suggestions li .stars")
            for i, stars in enumerate([5, 4, 5, 2, 4.5, 5, 3, 4, 5, 1]):
                star = controls.nth(i).locator(".star").nth(int(-(-stars // 1)) - 1)
                box = star.bounding_box()
                star.click(position={"x": box["width"] * (0.25 if stars % 1 else 0.75), "y": box["height"] / 2})
            page.click("#get-recs")
            page.wait_for_function("document.querySelector('#status').textContent === 'done'")
            page.wait_for_timeout(300)
            page.screenshot(path=str(HERE / f"{name}-recommendations.png"))
            page.close()
        browser.close()
    print(f"wrote {HERE}")


if __name__ == "__main__":
    main()
