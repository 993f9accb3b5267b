# Writes the record of an image key where image_cache_lookup.sh reads it.
# Usage: image_cache_record.sh RECORDS_DIR KEY IMAGE_ID
# The folder is this user's alone (0700): the lookup trusts no file another user could write.
mkdir -p -m 700 "$1" && echo "$3" > "$1/$2.$$" && mv -f "$1/$2.$$" "$1/$2"
