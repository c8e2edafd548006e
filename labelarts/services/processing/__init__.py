"""Data processing: tasks, versions, results (service.py), the checked operator plan
(plan.py), a version's run (job.py) and feature analysis (analysis.py)."""

from labelarts.services.processing.service import PROCESSOR_KIND, ProcessingService

__all__ = ["PROCESSOR_KIND", "ProcessingService"]
