"""The web console end to end: a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)
against a real `hotasr serve`, real speech, real models; the microphone is Chromium's fake capture device
playing a real recording.

Skips when /usr/bin/chromium (or the playwright package) is missing, unless HOTASR_REQUIRE_BROWSER=1 (CI).
HOTASR_SCREENSHOT_DIR=docs/screenshots refreshes the screenshots of the main screens.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import shutil
import threading
import wave
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from hotasr.audio import decode_audio
from tests.readings import heard
from tests.servers import HANG_S, SHARED, Server, free_port, heavy, unavailable

CHROMIUM = Path("/usr/bin/chromium")
JFK = SHARED / "data" / "en_misc" / "jfk.flac"  # "And so my fellow Americans, ask not what your country can do ..."
# tiny.en hears "Hester Prynne" as "has to print" unless "Prynne" is a hotword (tests/test_biasing.py).
PRYNNE = SHARED / "data" / "librispeech_test_subset" / "test-clean" / "1221-135766-0002.wav"
TINY = {"weights": "whisper-tiny.en"}
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = os.environ.get("HOTASR_SCREENSHOT_DIR")
LONG = HANG_S * 1000  # ms: waits on what the page shows, bounded only against a hang
pytestmark = pytest.mark.timeout(3 * HANG_S)


def _browser_or_skip() -> Any:
    """The playwright module, or skip (fail under HOTASR_REQUIRE_BROWSER=1) saying what is missing."""
    heavy("a browser")
    missing = None
    if not CHROMIUM.is_file():
        missing = f"{CHROMIUM} not found (apt-get install -y chromium)"
    try:
        from playwright import sync_api
    except ImportError:
        missing = missing or "the playwright Python package is not installed (pip install -e '.[test]')"
    if missing:
        unavailable(f"browser tests need Chromium: {missing}", "HOTASR_REQUIRE_BROWSER")
    return sync_api


def _wav(path: Path, silence_s: float = 0.0) -> bytes:
    samples = decode_audio(path).samples
    samples = np.concatenate([samples, np.zeros(round(silence_s * 16000), np.float32)])
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """jfk as 16 kHz WAV (Chromium's fake microphone plays WAV only), served over loopback HTTP for tasks.

    The fake microphone plays its file over and over. With 2 s of silence after the speech, each
    time round ends a sentence (`fun-asr-realtime` waits 1.3 s of silence): without it, the loop is
    one monologue that only the 25 s cut ends, and the same words said over and over read as a
    decoding loop to Whisper's retry test, so the first final came after 40 s."""
    root = tmp_path_factory.mktemp("audio")
    (root / "jfk.wav").write_bytes(_wav(JFK, silence_s=2.0))
    shutil.copy(JFK, root / "jfk.flac")
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "HOTASR_MODELS": json.dumps({"fun-asr": TINY, "fun-asr-realtime": TINY}),
        "HOTASR_ALLOW_PRIVATE_URLS": "1",  # the task test downloads from a loopback file server
        "HOTASR_TASK_WORKERS": "1",
        # The microphone test streams in real time: on a machine running two suites at once its
        # results may fall more than the default 30 s behind, which the server answers with
        # Throttling by design (tested in test_realtime). Here the console's flow is under test.
        "HOTASR_REALTIME_MAX_LAG_S": "600",
    }
    server = Server(tmp_path_factory.mktemp("console"), env=env).start()
    server.key = server.create_key("console")  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(web: Server, audio_dir: tuple[Path, str]) -> Iterator[Any]:
    sync_api = _browser_or_skip()
    fake_microphone = [
        "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={audio_dir[0] / 'jfk.wav'}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + fake_microphone)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, web: Server) -> Iterator[Any]:
    """A fresh browser profile on the console, the key entered once; uncaught JS errors fail the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 760}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(LONG)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(web.url + "/")
    page.fill("#api-key", web.key)  # type: ignore[attr-defined]
    page.click("#key-save")
    page.wait_for_selector("#key-status:text-is('Key OK')")
    yield page
    context.close()
    assert not errors, f"uncaught errors in the console: {errors}"


def screenshot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))


def api(web: Server, action: str, **fields: Any) -> httpx.Response:
    body = {"model": "speech-biasing", "input": {"action": action, **fields}}
    return httpx.post(web.url + "/api/v1/services/audio/asr/customization", json=body,
                      headers={"Authorization": f"Bearer {web.key}"})  # type: ignore[attr-defined]


def new_list(page: Any, prefix: str) -> None:
    page.click("[data-tab=lists]")
    page.click("#list-new")
    page.fill("#editor-prefix", prefix)


def term_row(page: Any, n: int) -> Any:
    return page.locator("#terms tbody tr").nth(n)


def save_and_wait(page: Any) -> str:
    page.click("#editor-save")
    page.wait_for_selector("#editor-ok:not([hidden]), #editor-error:not([hidden])")
    if page.is_visible("#editor-error"):
        return "error: " + page.inner_text("#editor-error")
    return page.inner_text("#editor-ok")


def test_served_by_hotasr_itself(web: Server) -> None:
    index = httpx.get(web.url + "/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in index.headers["content-security-policy"]  # the page holds an API key
    assert not re.search(r"(src|href)=\"(https?:)?//", index.text)  # no CDN: every asset is local
    for asset in ("app.js", "pcm-worklet.js", "style.css"):
        assert httpx.get(f"{web.url}/static/{asset}").status_code == 200
    assert httpx.get(web.url + "/static/nope.js").status_code == 404


def test_key_is_kept_and_a_wrong_one_is_named(page: Any, web: Server) -> None:
    page.reload()
    page.wait_for_selector("#key-status:text-is('Key OK')")  # from localStorage, not typed again
    assert page.input_value("#api-key") == web.key  # type: ignore[attr-defined]
    page.fill("#api-key", "sk-wrong")
    page.click("#key-save")
    page.wait_for_selector("#key-status:text-is('Invalid API-key provided.')")


def test_list_validation_then_transcribe_with_highlighted_hotword(page: Any, web: Server) -> None:
    new_list(page, "jfk")
    assert page.input_value("#editor-target") == "fun-asr"
    term_row(page, 0).locator(".term-text").fill("fellow Americans")
    term_row(page, 0).locator(".term-weight").fill("7")
    # The console shows exactly the API's own message for the same list.
    expected = api(web, "create_vocabulary", target_model="fun-asr", prefix="jfk",
                   vocabulary=[{"text": "fellow Americans", "weight": 7}]).json()["message"]
    assert save_and_wait(page) == "error: " + expected
    assert expected == 'vocabulary[0] ("fellow Americans"): weight must be from 1 to 5, got 7'
    screenshot(page, "hotword-lists-validation")
    term_row(page, 0).locator(".term-weight").fill("four")
    assert save_and_wait(page) == (
        'error: vocabulary[0] ("fellow Americans"): weight must be an integer from 1 to 5, got "four"')
    term_row(page, 0).locator(".term-weight").fill("4")
    created = save_and_wait(page)
    assert created.startswith("Created vocab-jfk-")
    vocabulary_id = created.removeprefix("Created ")
    page.wait_for_selector(f"#vocab-table tr[data-id='{vocabulary_id}'] .badge:text-is('OK')")
    stored = api(web, "query_vocabulary", vocabulary_id=vocabulary_id).json()["output"]
    assert stored["vocabulary"] == [{"text": "fellow Americans", "weight": 4}]
    screenshot(page, "hotword-lists")

    page.click("[data-tab=transcribe]")
    page.select_option("#tx-vocab", vocabulary_id)
    page.set_input_files("#tx-file", str(JFK))
    page.check("#tx-compare")
    page.click("#tx-run")
    page.wait_for_selector("#tx-compare-card:not([hidden]) #tx-transcript-plain:has-text('country')", timeout=LONG)
    marks = page.locator("#tx-transcript mark.hit")
    assert marks.count() == 1
    assert marks.first.inner_text().lower() == "fellow americans"
    assert marks.first.get_attribute("data-term") == "fellow Americans"
    transcript = page.inner_text("#tx-transcript")
    assert heard(transcript, "ask not what your country can do for you")
    assert page.inner_text("#tx-hits .chip") == "fellow Americans"
    assert page.is_hidden("#tx-error") and page.is_hidden("#tx-warnings")  # list made for fun-asr: applies
    screenshot(page, "transcribe-jfk")


def test_compare_without_biasing_marks_the_changed_words(page: Any, web: Server) -> None:
    vocabulary_id = api(web, "create_vocabulary", target_model="fun-asr", prefix="prynne",
                        vocabulary=[{"text": "Prynne", "weight": 5, "lang": "en"}]).json()["output"]["vocabulary_id"]
    page.reload()
    page.click("[data-tab=transcribe]")
    page.select_option("#tx-vocab", vocabulary_id)
    page.set_input_files("#tx-file", str(PRYNNE))
    page.check("#tx-compare")
    page.click("#tx-run")
    page.wait_for_selector("#tx-compare-card:not([hidden]) #tx-transcript-plain:has-text('apprehension')", timeout=LONG)
    # Biased: the term is recognized and highlighted; unbiased: it is not, and the words that differ are marked.
    assert page.locator("#tx-transcript mark.hit").all_inner_texts() == ["Prynne"]
    assert page.locator("#tx-transcript-plain mark.hit").count() == 0
    assert page.inner_text("#tx-hits-plain") == "No hotword of the list was found."
    changed = page.locator("#tx-transcript span.diff").all_inner_texts()
    assert "Prynne" in changed
    plain_changed = page.locator("#tx-transcript-plain span.diff").all_inner_texts()
    assert plain_changed and "apprehension." not in plain_changed  # only the differences are marked
    screenshot(page, "transcribe-compare")


def test_speakers_are_labelled_in_the_transcript(page: Any, tmp_path: Path) -> None:
    from tests.diarization_fixtures import two_speaker_audio, write_wav

    dialogue = write_wav(tmp_path / "dialogue.wav", two_speaker_audio()[0])  # a man, a woman, the man again
    page.click("[data-tab=transcribe]")
    page.set_input_files("#tx-file", str(dialogue))
    page.check("#tx-diarize")
    page.click("#tx-run")
    page.wait_for_selector("#tx-transcript p.turn", timeout=LONG)
    assert page.locator("#tx-transcript .speaker").all_inner_texts() == ["Speaker 0", "Speaker 1", "Speaker 0"]
    screenshot(page, "transcribe-speakers")


def test_import_export_and_delete(page: Any, web: Server, tmp_path: Path) -> None:
    terms = [{"text": "Kennedy", "weight": 5, "lang": "en"}, {"text": "赛德克巴莱", "weight": 4, "lang": "zh"}]
    source = tmp_path / "terms.json"
    source.write_text(json.dumps(terms, ensure_ascii=False), encoding="utf-8")
    new_list(page, "imported")
    page.set_input_files("#terms-import", str(source))
    page.wait_for_selector("#editor-ok:has-text('Imported 2 terms')")
    assert page.locator("#terms tbody tr").count() == 2
    vocabulary_id = save_and_wait(page).removeprefix("Created ")
    assert api(web, "query_vocabulary", vocabulary_id=vocabulary_id).json()["output"]["vocabulary"] == terms
    with page.expect_download() as download:
        page.click("#terms-export")
    assert download.value.suggested_filename == f"{vocabulary_id}.json"
    assert json.loads(Path(download.value.path()).read_text(encoding="utf-8")) == terms

    broken = tmp_path / "broken.json"
    broken.write_text('{"text": "x"}', encoding="utf-8")
    page.set_input_files("#terms-import", str(broken))
    page.wait_for_selector("#editor-error:has-text('broken.json: expected a JSON array')")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#editor-delete")
    page.wait_for_selector(f"#vocab-table tr[data-id='{vocabulary_id}']", state="detached")
    assert api(web, "query_vocabulary", vocabulary_id=vocabulary_id).status_code == 404


def test_highlight_and_diff_logic(page: Any) -> None:
    result = page.evaluate("""async () => {
        const t = await import('/static/text.js');
        const text = 'Ask not, AMERICANS! my fellow  Americans. Americanson 赛德克巴莱好';
        const hits = t.findHits(text, ['americans', 'fellow Americans', '赛德克巴莱']);
        const [a, b] = t.wordDiff(t.tokens('so my fellow Americans ask'), t.tokens('so my fella Americans, ask now'));
        const box = document.createElement('div');
        const line = 'my fella Americans';
        box.append(...t.renderMarked(line, t.findHits(line, ['Americans']), new Set([1])));
        return {hits: hits.map((h) => text.slice(h.start, h.end)), a: [...a], b: [...b], html: box.innerHTML};
    }""")
    # Whole words only, case-insensitive, longest term first, scripts without spaces matched inside text.
    assert result["hits"] == ["AMERICANS", "fellow  Americans", "赛德克巴莱"]
    assert result["a"] == [2] and result["b"] == [2, 5]  # punctuation and case are not differences
    assert result["html"] == ('my <span class="diff">fella</span> '
                              '<mark class="hit" title="hotword: Americans" data-term="Americans">Americans</mark>')


def test_live_microphone_through_the_websocket(page: Any, web: Server) -> None:
    vocabulary_id = api(web, "create_vocabulary", target_model="fun-asr-realtime", prefix="live",
                        vocabulary=[{"text": "fellow Americans", "weight": 4}]).json()["output"]["vocabulary_id"]
    page.reload()
    page.click("[data-tab=transcribe]")
    page.select_option("#tx-vocab", vocabulary_id)
    page.select_option("#mic-model", "fun-asr-realtime")
    page.check("#tx-compare")
    page.click("#mic-start")
    page.wait_for_selector("#tx-status:text-is('Recording… speak, then press Stop.')")
    # The fake microphone plays jfk in real time; interim and final text arrive while it plays.
    # Stop once a final sentence holds "country": an interim can show it the moment the word is
    # heard, and a stop right then cuts the word's audio short for the last final.
    page.wait_for_function(
        "() => document.querySelector('#tx-transcript').textContent.toLowerCase().includes('country')",
        timeout=LONG,
    )
    page.click("#mic-stop")
    # The comparison once the stream has finished, or the error that ended it (said, not waited out).
    page.wait_for_selector("#tx-compare-card:not([hidden]) #tx-transcript-plain:has-text('country'), "
                           "#tx-error:not([hidden])", timeout=LONG)
    assert page.is_hidden("#tx-error"), page.inner_text("#tx-error")
    assert heard(page.inner_text("#tx-transcript"), "ask not what your country")
    marks = [m.lower() for m in page.locator("#tx-transcript mark.hit").all_inner_texts()]
    assert marks and set(marks) == {"fellow americans"}  # the fake microphone loops: maybe heard twice
    screenshot(page, "transcribe-microphone")
    assert page.is_hidden("#tx-error")
    assert page.is_enabled("#mic-start") and page.is_disabled("#mic-stop")


def test_task_history_downloads(page: Any, audio_dir: tuple[Path, str]) -> None:
    page.click("[data-tab=history]")
    page.wait_for_selector("#task-empty:not([hidden]), #task-table tbody tr")
    page.fill("#task-url", audio_dir[1] + "/jfk.flac")
    page.click("#task-form button[type=submit]")
    row = page.locator("#task-table tbody tr").first
    row.locator(".badge:text-is('SUCCEEDED')").wait_for(timeout=LONG)  # the screen polls while it runs
    assert row.locator("td").nth(1).inner_text() == "fun-asr"
    screenshot(page, "task-history")
    downloads = {}
    for fmt in ("json", "srt", "txt"):
        with page.expect_download() as download:
            row.locator(f"button[data-format={fmt}]").click()
        assert download.value.suggested_filename == f"jfk.{fmt}"
        downloads[fmt] = Path(download.value.path()).read_text(encoding="utf-8")
    document = json.loads(downloads["json"])
    assert document["file_url"].endswith("/jfk.flac")
    assert "country" in document["transcripts"][0]["text"]
    assert re.match(r"1\n00:00:0\d,\d{3} --> 00:00:\d\d,\d{3}\n\S", downloads["srt"])
    assert downloads["txt"].strip() == document["transcripts"][0]["text"]

    page.fill("#task-url", "not a url")
    page.click("#task-form button[type=submit]")
    page.wait_for_selector("#history-error:not([hidden])")
    assert page.inner_text("#history-error")  # the API's own message, whatever it is
