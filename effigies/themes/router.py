from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import ValidationError

from effigies.api.deps import SessionDep
from effigies.api.openapi import content
from effigies.avatars import service as avatars_service
from effigies.themes import learning as learning_service
from effigies.themes import service
from effigies.themes.models import Theme
from effigies.themes.schemas import LearningOut, ThemeMetricsOut, ThemeOut

router = APIRouter(prefix="/api/themes", tags=["themes"])


def _metrics_out(metrics: dict | None) -> ThemeMetricsOut | None:
    # A hand-edited or older metrics.json must not take the theme list down with it.
    try:
        return ThemeMetricsOut.model_validate(metrics) if metrics else None
    except ValidationError:
        return None


def theme_out(theme: Theme, metrics: dict | None = None, sold_count: int = 0) -> ThemeOut:
    return ThemeOut(
        slug=theme.slug,
        name=theme.name,
        name_fr=theme.name_fr or theme.name,
        description=theme.description,
        description_fr=theme.description_fr or theme.description,
        attribution=theme.attribution,
        status=theme.status,
        pixel_art=theme.pixel_art,
        sample_url=f"/api/themes/{theme.slug}/sample.png",
        metrics=_metrics_out(metrics),
        sold_count=sold_count,
    )


@router.get("", response_model=list[ThemeOut])
def list_themes(session: SessionDep):
    sold = avatars_service.sales_by_theme(session=session)
    return [
        theme_out(t, service.current_metrics(session=session, theme=t), sold.get(t.id, (0, 0))[0])
        for t in service.list_themes(session=session)
    ]


@router.get("/{slug}", response_model=ThemeOut)
def get_theme(slug: str, session: SessionDep):
    theme = service.get_visible_theme(session=session, slug=slug)
    sold = avatars_service.sales_by_theme(session=session)
    return theme_out(theme, service.current_metrics(session=session, theme=theme), sold.get(theme.id, (0, 0))[0])


@router.get("/{slug}/sample.png", response_class=FileResponse, responses=content("image/png"))
def sample_grid(slug: str, session: SessionDep):
    theme = service.get_visible_theme(session=session, slug=slug)
    path = service.sample_grid_path(session=session, theme=theme)
    if path is None:
        raise service.ThemesError("sample_not_found", "This theme has no sample grid yet.", status=404)
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "public, max-age=300"})


@router.get("/{slug}/learning", response_model=LearningOut)
def learning(slug: str, session: SessionDep):
    theme = service.get_visible_theme(session=session, slug=slug)
    return learning_service.timeline(session=session, theme=theme)


@router.get("/{slug}/learning/{name}", response_class=FileResponse, responses=content("image/jpeg"))
def learning_frame(slug: str, name: str, session: SessionDep):
    theme = service.get_visible_theme(session=session, slug=slug)
    path = learning_service.frame_path(session=session, theme=theme, name=name)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})
