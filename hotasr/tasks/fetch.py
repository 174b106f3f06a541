"""File URLs of a task to local files: http(s) downloads with limits and an SSRF guard, and
`oss://` keys of files uploaded to this server.

The guard resolves the host itself, refuses non-public addresses (unless allow_private_urls) and
then connects to exactly the address it checked (the Host header and TLS SNI keep the name), so
a DNS answer that changes between check and connect cannot reach an internal service. Every
redirect hop goes through the same check.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from hotasr import __version__
from hotasr.config import Settings
from hotasr.errors import DownloadFailed, EmptyFile, FileTooLarge, InvalidURL
from hotasr.errors import FetchError as FetchError  # re-exported: raised here
from hotasr.hotwords import show
from hotasr.storage.files import FILE_MODE, private_dir
from hotasr.tasks.results import ResultStore


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int
    max_seconds: float
    max_redirects: int
    allow_private: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            settings.max_download_bytes,
            settings.max_download_seconds,
            settings.max_redirects,
            settings.allow_private_urls,
        )


# -- URL checks (also used at submit time) ------------------------------------------------------


def check_url_syntax(url: object) -> str:
    """The URL if it is one we can fetch (http, https, oss); InvalidURL otherwise."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidURL(f"file URL must be a non-empty string, got {show(url)}")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (parsed on access: a port past 65535 raises here, not in the worker)
    except ValueError as exc:  # "Invalid IPv6 URL", a bad port
        raise InvalidURL(f"file URL {show(url)} cannot be parsed: {exc}") from None
    if parts.scheme == "oss":
        if not (parts.netloc + parts.path).strip("/"):
            raise InvalidURL(f"oss:// URL without a key: {url!r}")
        return url.strip()
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidURL(
            f"unsupported file URL {url!r}: use http://, https:// or an oss:// URL from the upload endpoint",
        )
    return url.strip()


def oss_key(url: str) -> str:
    parts = urlsplit(url)
    return (parts.netloc + parts.path).strip("/")


def upload_owner(key: str) -> int | None:
    """The account an uploaded file belongs to (keys are uploads/<account_id>/...)."""
    parts = key.split("/")
    if len(parts) >= 4 and parts[0] == "uploads" and parts[1].isdigit():
        return int(parts[1])
    return None


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are the IPv4 reached
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d (:: and ::1 excepted)
# Ranges `ipaddress` calls global (Python 3.11) that still lead inside: 6to4 and Teredo tunnel to
# the IPv4 address they embed (127.0.0.1 as 2002:7f00:1::), the 6to4 relay anycast forwards to
# them, and site-local (deprecated) is routed by sites as their private range.
_REFUSED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (ipaddress.ip_network("2002::/16"), "6to4"),
    (ipaddress.ip_network("2001::/32"), "Teredo"),
    (_IPV4_COMPATIBLE, "IPv4-compatible"),
    (ipaddress.ip_network("fec0::/10"), "site-local"),
    (ipaddress.ip_network("192.88.99.0/24"), "6to4 relay"),
)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo's server, IPv4-compatible)."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[0]
    return None


def _refused(address: IPAddress) -> str | None:
    """Why the guard refuses `address`, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = _refused(inner)
            if reason:
                return f"{reason} (embedded {inner})"
            if address.ipv4_mapped or address in _NAT64:
                return None  # they reach exactly that public IPv4 address
    for attribute, what in (
        ("is_loopback", "loopback"),
        ("is_private", "private"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_reserved", "reserved"),
        ("is_unspecified", "unspecified"),
    ):
        if getattr(address, attribute):
            return what
    for network, what in _REFUSED_NETWORKS:
        if address.version == network.version and address in network:
            return what
    if not address.is_global:
        return "non-public"
    return None


def resolve_checked(host: str, port: int, allow_private: bool) -> str:
    """An IP address for `host` that passes the SSRF guard; DownloadFailed otherwise."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DownloadFailed(f"cannot resolve host {host!r}: {exc}") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DownloadFailed(f"host {host!r} has no address")
    if allow_private:
        return addresses[0]
    for text in addresses:
        # Any refused address refuses the host: with round-robin DNS we must not pick at random.
        reason = _refused(ipaddress.ip_address(text.split("%")[0]))
        if reason:
            raise DownloadFailed(
                f"refused to download from {host!r}: it resolves to a {reason} address ({text}); "
                "set allow_private_urls (HOTASR_ALLOW_PRIVATE_URLS=1) to allow internal URLs",
            )
    return addresses[0]


# -- fetching ------------------------------------------------------------------------------------


def fetch_to(url: str, dest: Path, *, account_id: int, limits: Limits, results: ResultStore) -> Path:
    """The local file for `url`: `dest` after a download, or the stored upload for oss:// URLs."""
    path = _uploaded_file(url, account_id, results) if urlsplit(url).scheme == "oss" else dest
    if path is dest:
        download(url, dest, limits)
    if path.stat().st_size == 0:  # said here: the decoder's own message would name the local file
        raise EmptyFile(f"the file at {url} is empty (0 bytes)")
    return path


def _uploaded_file(url: str, account_id: int, results: ResultStore) -> Path:
    key = oss_key(url)
    if upload_owner(key) != account_id:
        raise DownloadFailed(f"{url} is not a file uploaded by this account")
    try:
        path = results.upload_path(key)
    except ValueError:
        raise DownloadFailed(f"invalid oss:// URL {url!r}") from None
    if not path.is_file():
        raise DownloadFailed(f"{url} does not exist (uploads are kept for 48 hours)")
    return path


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One context for every download: loading the CA bundle costs 30-60 ms of CPU, a tenth of a
    short file's decode. A context keeps no per-host state; each connection checks its own name."""
    return httpx.create_ssl_context(trust_env=False)


def download(url: str, dest: Path, limits: Limits) -> None:
    deadline = time.monotonic() + limits.max_seconds
    current = url
    for _hop in range(limits.max_redirects + 1):
        # A client per hop: a pooled connection made for one host name must not serve another
        # name that resolves to the same address (its TLS certificate was checked for the first).
        # trust_env=False: no proxy from the environment may carry the request past the guard.
        with httpx.Client(
            follow_redirects=False,
            headers={"User-Agent": f"hotasr/{__version__}"},
            trust_env=False,
            verify=_tls_context(),
        ) as client:
            location = _fetch_once(client, current, dest, limits, deadline)
        if location is None:
            return
        current = location
    raise DownloadFailed(f"too many redirects (more than {limits.max_redirects}) for {url}")


def _fetch_once(client: httpx.Client, url: str, dest: Path, limits: Limits, deadline: float) -> str | None:
    """Download `url` to dest; returns the next URL for a redirect, None when done."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadFailed(f"cannot download {url!r}: only http:// and https:// URLs")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve_checked(parts.hostname, port, limits.allow_private)
    host_for_url = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{host_for_url}:{port}", parts.path or "/", parts.query, ""))
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DownloadFailed(f"download timed out after {limits.max_seconds:g} s")
    request = client.build_request(
        "GET",
        pinned,
        headers={"Host": host_header},
        extensions={"sni_hostname": parts.hostname, "timeout": _timeouts(min(remaining, 30.0))},
    )
    try:
        response = client.send(request, stream=True)
    except httpx.TimeoutException:
        raise DownloadFailed(f"timed out connecting to {parts.hostname}") from None
    except httpx.HTTPError as exc:
        raise DownloadFailed(f"the audio file cannot be downloaded: {exc}") from None
    try:
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("location")
            if not location:
                raise DownloadFailed(f"redirect without a Location from {url}")
            return urljoin(url, location)
        if response.status_code != 200:
            raise DownloadFailed(
                f"the audio file cannot be downloaded: HTTP {response.status_code} from {url}"
            )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            raise FileTooLarge(_too_large(limits))
        _stream_to(response, dest, limits, deadline)
        return None
    finally:
        response.close()


def _stream_to(response: httpx.Response, dest: Path, limits: Limits, deadline: float) -> None:
    size = 0
    private_dir(dest.parent)
    try:
        with os.fdopen(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as out:
            for chunk in response.iter_bytes(1 << 16):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise FileTooLarge(_too_large(limits))
                if time.monotonic() > deadline:
                    raise DownloadFailed(f"download timed out after {limits.max_seconds:g} s")
                out.write(chunk)
    except httpx.HTTPError as exc:
        raise DownloadFailed(f"the download was interrupted: {exc}") from None


def _timeouts(seconds: float) -> dict[str, float]:
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


def _too_large(limits: Limits) -> str:
    return f"the file is larger than the limit of {limits.max_bytes / 1e6:g} MB"
