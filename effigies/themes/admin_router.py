"""Admin routes for themes and the built datasets a theme can start from. Mounted by the app under
/api/admin, behind the admin gate."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from effigies.api.deps import SessionDep
from effigies.api.errors import error_response
from effigies.api.openapi import errors
from effigies.api.security import THEME_UPLOAD_BYTES
from effigies.curation import service as curation
from effigies.themes import admin, built_datasets
from effigies.themes.schemas import (
    AdminThemeOut,
    BuiltDatasetsOut,
    ModelVersionOut,
    PublishIn,
    RetiredOut,
    ThemeCreatedOut,
    ThemeCreateIn,
    ThemeOrderIn,
    UploadProblemOut,
)
from effigies.themes.service import ThemesError

themes_router = APIRouter(prefix="/themes", tags=["admin"])
datasets_router = APIRouter(prefix="/datasets", tags=["admin"])

ARCHIVE_FIELD = "archive"
DATASET_FIELD = "dataset"


def _out(row: dict) -> AdminThemeOut:
    theme = row["theme"]
    return AdminThemeOut(
        slug=theme.slug,
        name=theme.name,
        name_fr=theme.name_fr or theme.name,
        status=theme.status,
        pixel_art=theme.pixel_art,
        pixel_grid=theme.pixel_grid,
        created_at=theme.created_at,
        model_version=ModelVersionOut(**row["model_version"]) if row["model_version"] else None,
        versions=[ModelVersionOut(**v) for v in row["versions"]],
        training_images=row["training_images"],
        sales=row["sales"],
        revenue_cents=row["revenue_cents"],
        rejected_near_duplicates=row["rejected_near_duplicates"],
        capacity=row["capacity"],
        capacity_is_lower_bound=row["capacity_is_lower_bound"],
        sample_url=f"/api/themes/{theme.slug}/sample.png" if row["model_version"] else None,
    )


def _one(session, slug: str) -> AdminThemeOut:
    return _out(curation.overview(session=session, slug=slug)[0])


@themes_router.get("", response_model=list[AdminThemeOut])
def list_themes(session: SessionDep):
    return [_out(row) for row in curation.overview(session=session)]


@themes_router.put("/order", response_model=list[AdminThemeOut], responses=errors(422))
def set_theme_order(body: ThemeOrderIn, session: SessionDep):
    """The catalogue's order (GET /api/themes, and this table): every theme's slug, whatever its
    status, exactly once. 422 names an unknown, a missing or a repeated slug, and nothing changes."""
    admin.set_order(session=session, slugs=body.slugs)
    return [_out(row) for row in curation.overview(session=session)]


# The security middleware refuses a larger declared length up front; this counts the bytes
# actually received, so a chunked upload (no declared length) is capped as well.
# The body is read by hand (below), so FastAPI cannot describe it: the document says it here.
_CREATE_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object",
    "properties": {
        **ThemeCreateIn.model_json_schema()["properties"],
        ARCHIVE_FIELD: {"type": "string", "format": "binary", "description": "a zip of example images"},
        DATASET_FIELD: {"type": "string", "description": "instead of `archive`: a built dataset's name (GET /api/admin/datasets)"},
    },
    "required": ThemeCreateIn.model_json_schema()["required"],
}}}}}


@themes_router.post(
    "", status_code=201, response_model=ThemeCreatedOut, max_body_size=THEME_UPLOAD_BYTES,
    responses=errors(400, 404, 409, 422), openapi_extra=_CREATE_BODY,
)
async def create_theme(request: Request, session: SessionDep):
    """multipart/form-data: the ThemeCreateIn fields and either `archive`, a zip of example
    images, or `dataset`, the name of a folder built by `effigies dataset build` (both are checked
    alike, see effigies.themes.uploads).

    The body is read here, after the admin gate, never by the framework before it: an
    anonymous 200 MB upload is answered 401 without being spooled. The archive part goes to
    a temporary file (Starlette spools parts over 1 MB to disk), never whole into memory."""
    async with request.form(max_files=1, max_fields=16, max_part_size=64 * 1024) as form:
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        try:
            new = ThemeCreateIn.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        archive = form.get(ARCHIVE_FIELD)
        dataset = fields.get(DATASET_FIELD) or None  # an empty choice is no choice
        try:
            # Decoding thousands of images is CPU work: off the event loop.
            theme, report = await run_in_threadpool(
                admin.create_theme, session=session, new=admin.NewTheme(**new.model_dump()),
                archive=archive.file if isinstance(archive, UploadFile) else None, dataset=dataset,
            )
        except ThemesError as exc:
            if exc.details:
                return error_response(exc.status, exc.code, exc.message, **exc.details)
            raise
    return ThemeCreatedOut(
        theme=await run_in_threadpool(_one, session, theme.slug),
        images=len(report.images),
        transparent=report.transparent,
        large_images=report.large_images,
        skipped=[UploadProblemOut(**p.as_dict()) for p in report.skipped],
    )


@themes_router.post("/{slug}/publish", response_model=AdminThemeOut, responses=errors(409))
def publish_theme(slug: str, body: PublishIn, session: SessionDep):
    admin.publish(session=session, slug=slug, model_version_id=body.model_version_id)
    return _one(session, slug)


@themes_router.post("/{slug}/retire", response_model=RetiredOut, responses=errors(409))
def retire_theme(slug: str, session: SessionDep):
    expired = curation.retire(session=session, slug=slug)
    return RetiredOut(theme=_one(session, slug), expired_candidates=expired)


@themes_router.post("/{slug}/unretire", response_model=AdminThemeOut, responses=errors(409))
def unretire_theme(slug: str, session: SessionDep):
    admin.unretire(session=session, slug=slug)
    return _one(session, slug)


@datasets_router.get("", response_model=BuiltDatasetsOut)
def list_datasets(session: SessionDep):
    """Folders under EE_BUILT_DATASETS_DIR that hold images, for "New theme": counted by file name,
    never decoded (creating a theme from one checks every file, as for a zip)."""
    rows = admin.list_built_datasets(session=session)
    return BuiltDatasetsOut(folder=str(built_datasets.root()), datasets=rows)


# What the app mounts: both, under the admin gate.
router = APIRouter()
router.include_router(themes_router)
router.include_router(datasets_router)
