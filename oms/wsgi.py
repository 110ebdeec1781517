import gc
import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oms.settings")
application = get_wsgi_application()
# Loaded now rather than by the first request, so that the freeze below covers the views too.
import_module(settings.ROOT_URLCONF)
# The loaded project is ~150,000 objects that live as long as the process. Left to the garbage
# collector, every full collection walks them all: ~100 ms of CPU here, once every ~45 calls of
# 100-SKU availability, which was that endpoint's p99. Frozen, they are skipped (~15 ms instead).
gc.freeze()
