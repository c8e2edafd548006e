"""Auto labeling: intelligent tasks (create, list, detail, stop) and the job that runs them."""

from labelarts.services.autolabel.service import AUTO_LABEL_KIND, AutoLabelService

__all__ = ["AUTO_LABEL_KIND", "AutoLabelService"]
