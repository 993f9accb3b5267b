# The record of an image key: the ID of the image built from those inputs. Pants caches this
# process's success (locally, and in the remote cache on writers): that is how a record reaches
# later runs and other machines. When it runs, it reads the file image_cache_record.sh wrote
# in RECORDS_DIR, a fixed path outside the sandbox (so that it, too, is the same in every key).
# Usage: image_cache_lookup.sh RECORDS_DIR KEY
# Prints the image ID; exits 1 when there is no record, or none this user wrote.
# Bash builtins only: Pants runs it with no PATH.
[[ -O "$1" && -O "$1/$2" ]] && read -r id < "$1/$2" && [[ $id =~ ^sha256:[0-9a-f]{64}$ ]] || exit 1
echo "$id"
