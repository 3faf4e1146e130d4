#!/bin/bash
# Oracle: content edits, config edit, run the generator from its folder, manifest from public/.

printf '# Contact\n\nAsk for the harbour master at the office by the crane.\n' > /app/content/contact.md

rm -f /app/content/draft-ideas.md

sed -i 's/^SITE_TITLE=.*/SITE_TITLE="Harbor Notes"/' /app/tools/gen/site.conf

# sim: first-try bash /app/tools/gen/build.sh
cd /app/tools/gen
./build.sh

ls -l /app/public
grep -H '<title>' /app/public/*.html

cd /app/public
sha256sum boats.html contact.html harbour.html index.html > MANIFEST
