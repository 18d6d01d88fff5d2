import CamwatchImage
import Foundation
import FuzzDriver

@_cdecl("FuzzPNG_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    runFuzzer(argc, argv, testOneInput)
}

/// The decoder reads files, so each input is written to one scratch file (in memory under /dev/shm when
/// there is one) and decoded: it must give an image of the size its header says, or throw.
let scratch: String = {
    let directory = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return directory + "/camwatch-fuzz-png-\(getpid()).png"
}()

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard FileManager.default.createFile(atPath: scratch, contents: Data(bytes: data, count: size)) else { return 0 }
    guard let image = try? PNGDecoder.decode(path: scratch) else { return 0 }
    precondition(image.width * image.height <= PNGDecoder.maximumPixels, "decoded \(image.width)×\(image.height)")
    precondition(image.pixels.count == image.width * image.height * 3, "pixel count does not match the size")
    return 0
}
