"""The contract shared by training and serving: schema, validation, features, preprocessing.

Pure pandas / scikit-learn: nothing here touches Ray, the network or the file system.
"""
