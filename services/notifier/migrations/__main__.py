from services.notifier.migrations import upgrade
from services.notifier.settings import get_settings

upgrade(get_settings().database_url)
print("notify schema is up to date")
