"""The web pages under ``/ui``: thin handlers over the same services as the API.

Pages are rendered on the server (Jinja2); htmx swaps parts of them (progress, the grid after
a batch confirm) and two small scripts do what must happen in the browser: the keyboard
review view (``static/app.js``) and the box editor (``static/boxes.js``). docs/web.md says why.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from labelarts.auth.principal import Principal
from labelarts.auth.service import PasswordChangeRequired
from labelarts.container import Services
from labelarts.errors import (
    LabelArtsError,
    RoleForbiddenError,
    SampleNotFoundError,
    TooManyRequestsError,
    UnauthorizedError,
    ValidationFailedError,
)
from labelarts.media import parse_process_parameter
from labelarts.ml.hard import REASONS
from labelarts.schemas.datasets import CreateDatasetRequest
from labelarts.schemas.samples import UpdateSamplesRequest
from labelarts.schemas.tasks import CreateTaskRequest
from labelarts.services.datasets import DatasetListQuery
from labelarts.services.samples.presign import SourceRef
from labelarts.services.samples.query import SampleQuery
from labelarts.services.samples.records import AUTO
from labelarts.web import session as web_session
from labelarts.web.session import public_origin

HERE = Path(__file__).parent
router = APIRouter(prefix="/ui", include_in_schema=False)
_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

THUMBNAIL = "image/resize,m_lfit,w_160,h_160"
VIEW = "image/resize,m_lfit,w_960,h_720"
PAGE_SIZES = (20, 50, 100)
MAX_FORM_BYTES = 64 * 1024
# Security headers of every page: nothing but this server, no inline script, no framing.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
DATASET_TYPES = {
    0: "Image classification",
    1: "Object detection",
    3: "Image segmentation",
    100: "Text classification",
    200: "Sound classification",
}
CREATABLE_TYPES = (0, 1, 100, 200)
TABS = {
    "all": ("All", None),
    "unlabeled": ("Unlabeled", "__NONE__"),
    "labeled": ("Labeled", "__ALL__"),
    "auto": ("To be confirmed", None),
}
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
P = ParamSpec("P")


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in page, calls answer 401."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Page:
    """Who is signed in, and what every page template needs."""

    principal: Principal
    project_name: str
    csrf: str
    token: str


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _secret(request: Request) -> bytes:
    return services_of(request).settings.require_secret()


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status, headers=page_headers())


def page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


async def signed_in(request: Request, *, members: bool = False) -> Page:
    """The signed-in caller. Team members (role ``member``) get 403 ModelArts.4600 unless the
    page is one of theirs (``members=True``): the owner's pages stay the owner's."""
    token = request.cookies.get(web_session.SESSION_COOKIE, "")
    if not token:
        raise SignInRequired()
    services = services_of(request)
    try:
        principal = await run_in_threadpool(services.auth.authenticate_token, token)
        _stored, _user, project = await run_in_threadpool(services.auth.describe_token, token)
    except UnauthorizedError as exc:
        raise SignInRequired("expired" if exc.code == "ModelArts.0202" else "invalid") from None
    if not members and not principal.is_owner:
        raise RoleForbiddenError()
    csrf = web_session.csrf_token(_secret(request), token)
    return Page(principal, project.name, csrf, token)


async def read_form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ValidationFailedError("The form is too large.")
    form: dict[str, list[str]] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, []).append(value)
    return form


def first(form: Mapping[str, list[str]], key: str, default: str = "") -> str:
    values = form.get(key)
    return values[0] if values else default


async def checked_post(request: Request, *, members: bool = False) -> tuple[Page, dict[str, list[str]]]:
    """A state-changing form POST: signed in, from this origin, with the session's CSRF token."""
    page = await signed_in(request, members=members)
    web_session.check_origin(request)
    form = await read_form(request)
    given = request.headers.get(web_session.CSRF_HEADER) or first(form, web_session.CSRF_FIELD)
    web_session.check_csrf(_secret(request), page.token, given)
    return page, form


async def checked_json(request: Request, *, members: bool = False) -> tuple[Page, Any]:
    """A state-changing ``fetch`` call: the CSRF token in the ``X-CSRF-Token`` header."""
    page = await signed_in(request, members=members)
    web_session.check_origin(request)
    web_session.check_csrf(_secret(request), page.token, request.headers.get(web_session.CSRF_HEADER))
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES * 4:
        raise ValidationFailedError("The request is too large.")
    try:
        return page, json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationFailedError("Expected a JSON body.") from None


def html_errors(
    handler: Callable[P, Awaitable[Response]],
) -> Callable[P, Awaitable[Response]]:
    """A page handler whose service errors render as an error page (same status)."""

    @functools.wraps(handler)
    async def wrapped(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return await handler(*args, **kwargs)
        except LabelArtsError as exc:
            request = kwargs.get("request")
            assert isinstance(request, Request)
            return render(request, "error.html", status=exc.status_code, error=exc, page=None)

    return wrapped


# -- sign-in, change password, sign-out ---------------------------------------------------------


def _presession_form(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A form shown before any session (sign-in, invitation): its CSRF token is bound to the
    pre-session cookie."""
    response = render(request, template, status=status, page=None, **context)
    value = web_session.presession(request, response)
    # Render again with the token bound to the (possibly new) pre-session cookie.
    csrf = web_session.csrf_token(_secret(request), value, purpose="sign-in")
    html = _env.get_template(template).render(request=request, page=None, csrf=csrf, **context)
    response.body = html.encode()
    response.headers["content-length"] = str(len(response.body))
    return response


def _sign_in_form(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    return _presession_form(request, "sign_in.html", status, **context)


@router.get("/sign-in")
async def sign_in_page(request: Request, reason: str = "") -> Response:
    notice = {
        "expired": "Your session has expired. Please sign in again.",
        "signed-out": "You have signed out.",
        "password-changed": "Your password was changed. Sign in with the new one.",
        "invited": "Your account is ready: sign in with your email and the password you chose.",
        "joined": "The project was added to your account: sign in as before.",
    }.get(reason, "")
    return _sign_in_form(request, notice=notice)


def _check_presession_csrf(request: Request, form: Mapping[str, list[str]]) -> None:
    web_session.check_origin(request)
    value = request.cookies.get(web_session.PRESESSION_COOKIE, "")
    web_session.check_csrf(_secret(request), value, first(form, web_session.CSRF_FIELD), purpose="sign-in")


def _client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = await read_form(request)
    _check_presession_csrf(request, form)
    name, password = first(form, "username")[:256], first(form, "password")[:1024]
    services = services_of(request)
    try:
        issued = await run_in_threadpool(
            services.auth.issue_token,
            user_name=name,
            password=password,
            project_id=None,
            client_address=_client_address(request),
        )
    except PasswordChangeRequired as exc:
        return _sign_in_form(request, change_user_id=exc.user_id, username=name)
    except TooManyRequestsError as exc:
        return _sign_in_form(request, status=429, error=exc.message, username=name)
    except UnauthorizedError:
        return _sign_in_form(request, status=401, error="Incorrect user name or password.", username=name)
    # Owners land on their datasets, team members on their tasks (docs/web.md).
    principal = await run_in_threadpool(services.auth.authenticate_token, issued.token)
    response = RedirectResponse("/ui/datasets" if principal.is_owner else "/ui/work", status_code=303)
    max_age = max(1, (issued.expires_at - issued.issued_at) // 1000)
    web_session.set_session(response, request, issued.token, max_age)
    return response


@router.post("/change-password")
async def change_password(request: Request) -> Response:
    form = await read_form(request)
    _check_presession_csrf(request, form)
    user_id, name = first(form, "user_id")[:64], first(form, "username")[:256]
    current, new, again = (
        first(form, "password"),
        first(form, "new_password"),
        first(form, "new_password_again"),
    )
    if new != again:
        return _sign_in_form(
            request, status=400, change_user_id=user_id, username=name, error="The new passwords differ."
        )
    try:
        await run_in_threadpool(
            services_of(request).auth.change_password,
            user_id=user_id,
            original_password=current,
            new_password=new,
            client_address=_client_address(request),
        )
    except LabelArtsError as exc:
        return _sign_in_form(
            request, status=exc.status_code, change_user_id=user_id, username=name, error=exc.message
        )
    return RedirectResponse("/ui/sign-in?reason=password-changed", status_code=303)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    page, _form = await checked_post(request, members=True)
    await run_in_threadpool(services_of(request).auth.revoke_token, page.token)
    response = RedirectResponse("/ui/sign-in?reason=signed-out", status_code=303)
    web_session.clear_session(response, request)
    return response


# -- invitations (docs/team-labeling.md, "Accounts and roles") ------------------------------------


def _invitation_form(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    return _presession_form(request, "invitation.html", status, **context)


@router.get("/invitation")
async def invitation_page(request: Request) -> Response:
    return _invitation_form(request)


@router.post("/invitation")
async def accept_invitation(request: Request) -> Response:
    form = await read_form(request)
    _check_presession_csrf(request, form)
    token = first(form, "token").strip()[:256]
    password, again = first(form, "password")[:1024], first(form, "password_again")[:1024]
    if password != again:
        return _invitation_form(request, status=400, token=token, error="The passwords differ.")
    try:
        created = await run_in_threadpool(services_of(request).members.accept, token, password)
    except LabelArtsError as exc:
        return _invitation_form(request, status=exc.status_code, token=token, error=exc.message)
    reason = "invited" if created is not None else "joined"
    return RedirectResponse(f"/ui/sign-in?reason={reason}", status_code=303)


@router.get("")
@router.get("/")
async def home(request: Request) -> Response:
    page = await signed_in(request, members=True)
    return RedirectResponse("/ui/datasets" if page.principal.is_owner else "/ui/work", status_code=303)


# -- static files -------------------------------------------------------------------------------


def _static_files() -> dict[str, tuple[bytes, str]]:
    found: dict[str, tuple[bytes, str]] = {}
    for path in (HERE / "static").iterdir():
        kind = STATIC_TYPES.get(path.suffix)
        if kind is not None and path.is_file():
            found[path.name] = (path.read_bytes(), kind)
    return found


_STATIC = _static_files()


@router.get("/static/{name}")
async def static(name: str) -> Response:
    found = _STATIC.get(name)
    if found is None:
        return Response("Not found.", status_code=404, media_type="text/plain")
    data, kind = found
    return Response(data, media_type=kind, headers={"Cache-Control": "public, max-age=3600"})


# -- datasets -----------------------------------------------------------------------------------


@router.get("/datasets")
@html_errors
async def datasets_page(request: Request, page_number: int = 0) -> Response:
    page = await signed_in(request)
    services = services_of(request)
    query = DatasetListQuery(offset=max(0, page_number), limit=50, order="desc", sort_by="create_time")
    datasets, total = await run_in_threadpool(services.datasets.list, page.principal.project_id, query)
    return render(
        request,
        "datasets.html",
        page=page,
        datasets=datasets,
        total=total,
        types=DATASET_TYPES,
        page_number=page_number,
        pages=max(1, math.ceil(total / 50)),
    )


def _import_roots(services: Services, project_id: str) -> list[str]:
    scope = services.grants.scope(project_id)
    return [str(root) for root in services.grants.roots if scope.shows(str(root))]


@router.get("/datasets/new")
@html_errors
async def new_dataset_page(request: Request) -> Response:
    page = await signed_in(request)
    roots = _import_roots(services_of(request), page.principal.project_id)
    return render(
        request,
        "dataset_new.html",
        page=page,
        roots=roots,
        types=DATASET_TYPES,
        creatable=CREATABLE_TYPES,
        form={},
    )


@router.post("/datasets")
async def create_dataset(request: Request) -> Response:
    page, form = await checked_post(request)
    services = services_of(request)
    labels = [name.strip() for name in first(form, "labels").replace("\n", ",").split(",") if name.strip()]
    try:
        dataset_type = int(first(form, "dataset_type", "0"))
        body = CreateDatasetRequest.model_validate(
            {
                "dataset_name": first(form, "dataset_name").strip(),
                "dataset_type": dataset_type,
                "data_sources": [{"data_type": 0, "data_path": first(form, "data_path").strip()}],
                "work_path": "/labelarts/work/",
                "description": first(form, "description"),
                **({"labels": [{"name": n} for n in labels]} if labels else {}),
            }
        )
        dataset_id, _task = await run_in_threadpool(services.datasets.create, page.principal.project_id, body)
    except (ValueError, ValidationError, LabelArtsError) as exc:
        message = exc.message if isinstance(exc, LabelArtsError) else _validation_text(exc)
        roots = _import_roots(services, page.principal.project_id)
        return render(
            request,
            "dataset_new.html",
            status=400,
            page=page,
            roots=roots,
            types=DATASET_TYPES,
            creatable=CREATABLE_TYPES,
            error=message,
            form={k: first(form, k) for k in form},
        )
    return RedirectResponse(f"/ui/datasets/{dataset_id}", status_code=303)


def _validation_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
    return str(exc)


async def _overview(request: Request, page: Page, dataset_id: str) -> dict[str, Any]:
    services = services_of(request)
    project = page.principal.project_id
    dataset = await run_in_threadpool(services.datasets.describe, project, dataset_id)
    stats = await run_in_threadpool(services.datasets.statistics, project, dataset_id)
    import_task = None
    if dataset.get("import_task_id"):
        import_task = await run_in_threadpool(
            services.imports.get, project, dataset_id, dataset["import_task_id"]
        )
    return {"dataset": dataset, "stats": stats, "import_task": import_task}


@router.get("/datasets/{dataset_id}")
@html_errors
async def dataset_page(request: Request, dataset_id: str) -> Response:
    page = await signed_in(request)
    context = await _overview(request, page, dataset_id)
    return render(request, "dataset.html", page=page, types=DATASET_TYPES, **context)


@router.get("/datasets/{dataset_id}/progress")
@html_errors
async def dataset_progress(request: Request, dataset_id: str) -> Response:
    """The overview's live part (import progress and counts), polled by htmx while importing."""
    page = await signed_in(request)
    context = await _overview(request, page, dataset_id)
    return render(request, "_overview.html", page=page, **context)


# -- samples ------------------------------------------------------------------------------------


@dataclass
class Filters:
    tab: str = "all"
    label: str = ""
    low: int = 0
    high: int = 100
    hard: bool = False
    reason: str = ""
    name: str = ""
    sort: str = "time"
    page: int = 0
    size: int = 100

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Filters:
        def number(key: str, default: int, low: int, high: int) -> int:
            try:
                return min(high, max(low, int(params.get(key, default))))
            except ValueError:
                return default

        size = number("size", 100, 1, 100)
        return cls(
            tab=params.get("tab", "all") if params.get("tab") in TABS else "all",
            label=params.get("label", "")[:256],
            low=number("low", 0, 0, 100),
            high=number("high", 100, 0, 100),
            hard=params.get("hard") in ("1", "on", "true"),
            reason=params.get("reason", "") if params.get("reason", "").isdigit() else "",
            name=params.get("name", "")[:1024],
            sort=params.get("sort", "time")
            if params.get("sort") in ("time", "score_asc", "score_desc")
            else "time",
            page=number("page", 0, 0, 10_000_000),
            size=size if size in PAGE_SIZES else 100,
        )

    def query(self) -> SampleQuery:
        conditions: list[dict[str, Any]] = []
        if self.hard:
            conditions.append({"hard": "1"})
        if self.reason:
            conditions.append({"hard_reason": self.reason})
        if self.name:
            conditions.append({"sample_name": self.name})
        scored = self.sort != "time" or self.low > 0 or self.high < 100
        low, high = (
            (min(self.low, self.high) / 100, max(self.low, self.high) / 100) if scored else (None, None)
        )
        return SampleQuery(
            offset=self.page,
            limit=self.size,
            order="asc" if self.sort == "score_asc" else "desc",
            sample_state=TABS[self.tab][1],
            label_name=self.label or None,
            low_score=low,
            high_score=high,
            conditions=tuple(conditions),
            fixed_status=AUTO if self.tab == "auto" else None,
        )

    def params(self, **changes: Any) -> str:
        values = {**self.__dict__, **changes}
        kept = {
            key: ("1" if value is True else value)
            for key, value in values.items()
            if value is not None
            and value is not False
            and value != ""
            and (key, value)
            not in {("tab", "all"), ("low", 0), ("high", 100), ("sort", "time"), ("page", 0), ("size", 100)}
        }
        return urlencode(kept)


def _process(spec: str) -> str:
    return parse_process_parameter(spec).cache_key().split(":", 1)[1]


def _sample_view(sample: dict[str, Any], *, labels_index: Mapping[str, int]) -> dict[str, Any]:
    """What a template or the review script needs of one sample."""
    labels = sample.get("labels", [])
    scores = [label["score"] for label in labels if isinstance(label.get("score"), float | int)]
    metadata = sample.get("metadata", {})
    reasons_codes = metadata.get("@modelarts:hard_reasons") or []
    details = sample.get("hard_details") or {}
    reasons = []
    for code in reasons_codes:
        detail = details.get(str(code))
        known = REASONS.get(int(code)) if isinstance(code, int) else None
        reasons.append(detail["reason"] if detail else known.reason if known else f"reason {code}")
    return {
        "id": sample["sample_id"],
        "name": sample["sample_name"],
        "type": sample["sample_type"],
        "status": sample["sample_status"],
        "source": sample["source"],
        "labels": [
            {
                "name": label["name"],
                "type": label["type"],
                "property": label.get("property", {}),
                "score": label.get("score"),
                "key": labels_index.get(label["name"]),
            }
            for label in labels
        ],
        "score": max(scores) if scores else None,
        "hard": bool(metadata.get("@modelarts:hard")),
        "reasons": reasons,
        "text": (sample.get("sample_data") or [None])[0],
    }


async def _labels(services: Services, project: str, dataset_id: str) -> list[dict[str, Any]]:
    labels, _total = await run_in_threadpool(
        functools.partial(services.labels.list_labels, project, dataset_id, offset=0, limit=100)
    )
    return labels


async def _samples(
    request: Request, page: Page, dataset_id: str, filters: Filters, process: str | None
) -> tuple[list[dict[str, Any]], int, list[dict[str, Any]]]:
    services = services_of(request)
    project = page.principal.project_id
    origin = public_origin(request)
    labels = await _labels(services, project, dataset_id)
    index = {label["name"]: i + 1 for i, label in enumerate(labels[:9])}

    def source(sample: Any) -> str:
        ref = SourceRef(project, sample.dataset_id, sample.id)
        return services.signer.url(origin, ref, process if sample.sample_type == 0 else None)

    samples, count = await run_in_threadpool(
        functools.partial(
            services.sample_list.list_samples, project, dataset_id, filters.query(), source_url=source
        )
    )
    return [_sample_view(s, labels_index=index) for s in samples], count, labels


def _tab_counts(dataset: Mapping[str, Any]) -> dict[str, int]:
    """The tabs' counts from the dataset's description (no per-label statistics needed)."""
    total, manual = dataset["total_sample_count"], dataset["annotated_sample_count"]
    auto = dataset["unconfirmed_sample_count"]
    return {"all": total, "unlabeled": total - manual - auto, "labeled": manual, "auto": auto}


@router.get("/datasets/{dataset_id}/samples")
@html_errors
async def samples_page(request: Request, dataset_id: str) -> Response:
    page = await signed_in(request)
    services = services_of(request)
    filters = Filters.parse(request.query_params)
    dataset = await run_in_threadpool(services.datasets.describe, page.principal.project_id, dataset_id)
    samples, count, labels = await _samples(request, page, dataset_id, filters, _process(THUMBNAIL))
    return render(
        request,
        "samples.html",
        page=page,
        dataset=dataset,
        samples=samples,
        count=count,
        labels=labels,
        filters=filters,
        tabs=TABS,
        counts=_tab_counts(dataset),
        pages=max(1, math.ceil(count / filters.size)),
        reasons=REASONS,
        sizes=PAGE_SIZES,
    )


@router.get("/datasets/{dataset_id}/review")
@html_errors
async def review_page(request: Request, dataset_id: str, at: int = 0) -> Response:
    """One sample at a time, for the keyboard: label, confirm, reject, undo (static/app.js)."""
    page = await signed_in(request)
    services = services_of(request)
    filters = Filters.parse(request.query_params)
    dataset = await run_in_threadpool(services.datasets.describe, page.principal.project_id, dataset_id)
    samples, count, labels = await _samples(request, page, dataset_id, filters, _process(VIEW))
    data = {
        "dataset_id": dataset_id,
        "dataset_type": dataset["dataset_type"],
        "samples": samples,
        "labels": [{"name": label["name"], "type": label["type"]} for label in labels],
        "at": min(max(0, at), max(0, len(samples) - 1)),
        "page": filters.page,
        "pages": max(1, math.ceil(count / filters.size)),
        "query": filters.params(page=None),
        "counts": _tab_counts(dataset),
    }
    return render(
        request,
        "review.html",
        page=page,
        dataset=dataset,
        filters=filters,
        count=count,
        labels=labels,
        data=json.dumps(data).replace("</", "<\\/"),
        tabs=TABS,
        counts=_tab_counts(dataset),
    )


def _confirmed_labels(sample: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A sample's labels as a person confirms them: names, types and shapes; no score."""
    return [
        {"name": label["name"], "type": label["type"], "property": dict(label.get("property") or {})}
        for label in sample["labels"]
    ]


async def _update(request: Request, page: Page, dataset_id: str, samples: list[dict[str, Any]]) -> None:
    services = services_of(request)
    body = UpdateSamplesRequest.model_validate({"samples": samples})
    await run_in_threadpool(
        functools.partial(
            services.sample_edits.update_samples,
            page.principal.project_id,
            dataset_id,
            body,
            labeler=page.principal.user_name,
        )
    )


@router.post("/datasets/{dataset_id}/confirm")
async def confirm_samples(request: Request, dataset_id: str) -> Response:
    """Confirm the selected auto labels as they are (the grid's batch form; htmx or plain)."""
    page, form = await checked_post(request)
    services = services_of(request)
    ids = form.get("sample_id", [])[:1000]
    updates = []
    for sample_id in ids:
        try:
            sample = await run_in_threadpool(
                functools.partial(
                    services.sample_list.describe,
                    page.principal.project_id,
                    dataset_id,
                    sample_id,
                    source_url=lambda _s: "",
                    status=AUTO,
                )
            )
        except SampleNotFoundError:
            continue  # confirmed, corrected or deleted meanwhile (another tab, another person)
        updates.append({"sample_id": sample_id, "labels": _confirmed_labels(sample)})
    if updates:
        await _update(request, page, dataset_id, updates)
    back = first(form, "back")
    target = (
        back
        if back.startswith(f"/ui/datasets/{dataset_id}/samples")
        else f"/ui/datasets/{dataset_id}/samples"
    )
    return RedirectResponse(target, status_code=303)


@router.post("/datasets/{dataset_id}/samples/{sample_id}/labels")
async def set_labels(request: Request, dataset_id: str, sample_id: str) -> Response:
    """Replace one sample's labels (``[]`` rejects: back to unlabeled); answers the new counts."""
    page, body = await checked_json(request)
    labels = body.get("labels") if isinstance(body, dict) else None
    if not isinstance(labels, list):
        raise ValidationFailedError('Expected {"labels": [...]}.')
    try:
        await _update(request, page, dataset_id, [{"sample_id": sample_id, "labels": labels}])
    except ValidationError as exc:
        raise ValidationFailedError(_validation_text(exc)) from None
    dataset = await run_in_threadpool(
        services_of(request).datasets.describe, page.principal.project_id, dataset_id
    )
    return JSONResponse({"counts": _tab_counts(dataset)})


@router.get("/datasets/{dataset_id}/samples/{sample_id}/boxes")
@html_errors
async def boxes_page(request: Request, dataset_id: str, sample_id: str) -> Response:
    """The box editor of one detection sample (static/boxes.js)."""
    page = await signed_in(request)
    services = services_of(request)
    project = page.principal.project_id
    origin = public_origin(request)
    labels = await _labels(services, project, dataset_id)
    dataset = await run_in_threadpool(services.datasets.describe, project, dataset_id)

    def source(sample: Any) -> str:
        return services.signer.url(origin, SourceRef(project, sample.dataset_id, sample.id), None)

    sample = await run_in_threadpool(
        functools.partial(services.sample_list.describe, project, dataset_id, sample_id, source_url=source)
    )
    view = _sample_view(sample, labels_index={})
    data = {
        "dataset_id": dataset_id,
        "sample": view,
        "labels": [{"name": label["name"], "type": label["type"]} for label in labels],
    }
    return render(
        request,
        "boxes.html",
        page=page,
        dataset=dataset,
        sample=view,
        labels=labels,
        data=json.dumps(data).replace("</", "<\\/"),
    )


# -- auto labeling ------------------------------------------------------------------------------


def _task_view(task: Mapping[str, Any]) -> dict[str, Any]:
    result = task.get("result", {})
    estimates = result.get("estimates", {})
    unconfirmed = int(task.get("unconfirmed_sample_count", 0) or 0)
    hard = int(result.get("hard_sample_count", 0) or 0)
    accepted = int(result.get("auto_accepted_sample_count", 0) or 0)
    labeled = max(unconfirmed, accepted + 0)
    return {
        "id": task["task_id"],
        "status": task["status"],
        "active": task["status"] in (-1, 1, 4),
        "progress": task["progress"],
        "message": task.get("message", ""),
        "created": task.get("create_time", ""),
        "elapsed": task.get("elapsed_time", 0),
        "algorithm": task.get("config", {}).get("algorithm_type", "fast"),
        "expected_accuracy": estimates.get("expected_precision_accepted", estimates.get("expected_accuracy")),
        "hard_share": (hard / labeled) if labeled else None,
        "hard": hard,
        "accepted": accepted,
        "unconfirmed": unconfirmed,
        "thresholds": result.get("thresholds", {}),
        "error": task.get("error_msg", ""),
    }


TASK_STATUS_WORDS = {-1: "queued", 1: "running", 2: "failed", 3: "succeeded", 4: "stopping", 5: "stopped"}


@router.get("/datasets/{dataset_id}/tasks")
@html_errors
async def tasks_page(request: Request, dataset_id: str, error: str = "") -> Response:
    page = await signed_in(request)
    services = services_of(request)
    project = page.principal.project_id
    dataset = await run_in_threadpool(services.datasets.describe, project, dataset_id)
    tasks, total = await run_in_threadpool(
        functools.partial(
            services.autolabel.list, project, dataset_id, offset=0, limit=50, task_type=None, task_name=None
        )
    )
    return render(
        request,
        "tasks.html",
        page=page,
        dataset=dataset,
        tasks=[_task_view(t) for t in tasks],
        total=total,
        words=TASK_STATUS_WORDS,
        error=error,
    )


@router.get("/datasets/{dataset_id}/tasks/{task_id}/status")
@html_errors
async def task_status(request: Request, dataset_id: str, task_id: str) -> Response:
    """One task's live row, polled by htmx while the task is active."""
    page = await signed_in(request)
    services = services_of(request)
    task = await run_in_threadpool(services.autolabel.get, page.principal.project_id, dataset_id, task_id)
    return render(
        request,
        "_task.html",
        page=page,
        dataset_id=dataset_id,
        task=_task_view(task),
        words=TASK_STATUS_WORDS,
    )


@router.post("/datasets/{dataset_id}/tasks")
async def start_task(request: Request, dataset_id: str) -> Response:
    page, form = await checked_post(request)
    algorithm = first(form, "algorithm_type", "fast")
    try:
        # collect_key_sample stays off: with it a dataset without labels would start a task that only
        # proposes samples (result.key_samples), which this page does not show; the refusal is clearer.
        body = CreateTaskRequest.model_validate(
            {"task_type": "auto-label", "collect_key_sample": False, "config": {"algorithm_type": algorithm}}
        )
        await run_in_threadpool(
            services_of(request).autolabel.create, page.principal.project_id, dataset_id, body
        )
    except ValidationError as exc:
        return await tasks_page(request=request, dataset_id=dataset_id, error=_validation_text(exc))
    except LabelArtsError as exc:
        if exc.status_code == 404:
            raise
        return await tasks_page(request=request, dataset_id=dataset_id, error=exc.message)
    return RedirectResponse(f"/ui/datasets/{dataset_id}/tasks", status_code=303)


@router.post("/datasets/{dataset_id}/tasks/{task_id}/stop")
async def stop_task(request: Request, dataset_id: str, task_id: str) -> Response:
    page, _form = await checked_post(request)
    try:
        await run_in_threadpool(
            services_of(request).autolabel.stop, page.principal.project_id, dataset_id, task_id
        )
    except LabelArtsError as exc:
        if exc.status_code == 404:
            raise
    return RedirectResponse(f"/ui/datasets/{dataset_id}/tasks", status_code=303)
