"""The one error vocabulary. Services raise these; the envelope handler maps them."""


class ApplicationError(Exception):
    """An error the caller can act on; `status` is the HTTP status it maps to."""

    status = 400

    def __init__(self, message: str, *, extra: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFoundError(ApplicationError):
    status = 404


class ConflictError(ApplicationError):
    status = 409


class UnavailableError(ApplicationError):
    status = 503
