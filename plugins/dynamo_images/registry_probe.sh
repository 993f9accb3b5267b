# Exit 0 when something listens on the registry's host and port ($1, $2). Bash alone: Pants
# runs this with no PATH.
exec 3<>"/dev/tcp/$1/$2"
