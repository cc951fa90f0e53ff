module github.com/rekeyhq/rekey

go 1.26.0
