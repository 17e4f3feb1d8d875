module github.com/samplecrd/network-controller

go 1.26
